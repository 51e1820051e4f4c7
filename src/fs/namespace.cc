// Namespace: lookup, create, link, unlink, rename, directories, attributes
// and the lifetime of inodes (see namespace.h).
#include "src/fs/namespace.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>

#include "metadata/key_codec.h"
#include "src/common/crash_point.h"
#include "src/extent/extent_space.h"

namespace dynamicfs {

namespace {
constexpr std::string_view kSymlinkKey{"\0link", 5};
}  // namespace

Namespace::Namespace(Volume& volume, InodeStore& inodes, GroupCommitCoordinator& commit,
                     ExtentLockManager& locks, OpenFileTable& open, Reservations& reservations,
                     Tiering& tiering, ReleaseSpace release_space)
    : m_volume(volume),
      m_inodes(inodes),
      m_commit(commit),
      m_locks(locks),
      m_open(open),
      m_reservations(reservations),
      m_tiering(tiering),
      m_release_space(std::move(release_space)),
      m_read_only(volume.read_only()) {}

Status Namespace::check_name(std::string_view name) {
  if (name.empty()) return Status::error(ENOENT);
  if (name.size() > kNameMax) return Status::error(ENAMETOOLONG);
  if (name.find('/') != std::string_view::npos) return Status::error(EINVAL);
  return Status::ok();
}

Result<InodeRecord> Namespace::lookup(uint64_t parent, std::string_view name) {
  if (name == "." || name == "..") return lookup_dots(parent, name);
  DFS_RETURN_IF_ERROR(check_name(name));
  auto guard = m_locks.lock_shared(parent);
  DFS_ASSIGN_OR_RETURN(auto dir, m_inodes.load(parent));
  if (!dir.is_dir()) return Status::error(ENOTDIR);
  DFS_ASSIGN_OR_RETURN(auto d, m_inodes.dentry(parent, name));
  if (!d.has_value()) return Status::error(ENOENT);
  return m_inodes.load(d->first);
}

Result<InodeRecord> Namespace::lookup_dots(uint64_t ino, std::string_view name) {
  // The kernel asks for "." and ".." only to turn a file handle back into
  // an inode (open_by_handle_at, NFS export): inode numbers are never
  // reused, so a number names one inode for the volume's life. "." may be
  // any inode; ".." only a directory's.
  auto rec = m_inodes.load(ino);
  if (!rec.is_ok() || name == ".") return rec;
  if (!rec->is_dir()) return Status::error(ENOTDIR);
  return m_inodes.load(rec->parent == 0 ? ino : rec->parent);
}

Result<InodeRecord> Namespace::create_node(uint64_t parent, std::string_view name, uint32_t mode,
                                           uint64_t rdev, std::string_view symlink_target,
                                           const Caller& c) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  DFS_RETURN_IF_ERROR(check_name(name));
  auto guard = m_locks.lock_exclusive({parent});
  DFS_ASSIGN_OR_RETURN(InodeRecord dir, m_inodes.load(parent));
  if (!dir.is_dir()) return Status::error(ENOTDIR);
  if (dir.nlink == 0) return Status::error(ENOENT);
  DFS_ASSIGN_OR_RETURN(auto existing, m_inodes.dentry(parent, name));
  if (existing.has_value()) return Status::error(EEXIST);
  bool is_dir = S_ISDIR(mode);
  if (is_dir && dir.nlink >= kLinkMax) return Status::error(EMLINK);

  rocksdb::WriteBatch b;
  auto ino = m_inodes.allocate_ino();
  if (!ino.is_ok()) return ino.status();
  Timestamp now = now_timestamp();
  InodeRecord rec;
  rec.ino = ino.value();
  rec.mode = mode;
  rec.uid = c.uid;
  rec.gid = c.gid;
  if (dir.mode & S_ISGID) {
    rec.gid = dir.gid;  // setgid directories pass their group on
    if (is_dir) rec.mode |= S_ISGID;
  }
  rec.nlink = is_dir ? 2 : 1;
  rec.size = is_dir ? 4096 : symlink_target.size();
  rec.rdev = rdev;
  rec.generation = 1;
  rec.parent = is_dir ? parent : 0;
  rec.atime = rec.mtime = rec.ctime = rec.crtime = now;
  DFS_RETURN_IF_ERROR(inherit_acls(&b, parent, &rec, c));
  DFS_RETURN_IF_ERROR(m_inodes.inherit_policy(&b, parent, rec));
  m_inodes.put(&b, rec);
  if (!symlink_target.empty()) {
    b.Put(m_volume.meta().handle(Cf::kXattrs), KeyCodec::xattr_key(rec.ino, kSymlinkKey),
          rocksdb::Slice(symlink_target.data(), symlink_target.size()));
  }
  m_inodes.put_dentry(&b, parent, name, rec.ino, mode & S_IFMT);
  if (is_dir) ++dir.nlink;
  dir.mtime = dir.ctime = now;
  m_inodes.put(&b, dir);
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  m_inodes.add_inodes(1);
  return rec;
}

Result<InodeRecord> Namespace::mknod(uint64_t parent, std::string_view name, uint32_t mode,
                                     uint64_t rdev, const Caller& c) {
  uint32_t type = mode & S_IFMT;
  if (type == 0) type = S_IFREG;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
      type != S_IFBLK) {
    return Status::error(EINVAL);
  }
  if (type != S_IFCHR && type != S_IFBLK) rdev = 0;
  return create_node(parent, name, type | (mode & 07777), rdev, {}, c);
}

Result<InodeRecord> Namespace::mkdir(uint64_t parent, std::string_view name, uint32_t mode,
                                     const Caller& c) {
  return create_node(parent, name, S_IFDIR | (mode & 07777), 0, {}, c);
}

Result<InodeRecord> Namespace::symlink(uint64_t parent, std::string_view name,
                                       std::string_view target, const Caller& c) {
  if (target.empty()) return Status::error(ENOENT);
  if (target.size() >= 4096) return Status::error(ENAMETOOLONG);
  return create_node(parent, name, S_IFLNK | 0777, 0, target, c);
}

Result<std::string> Namespace::readlink(uint64_t ino) {
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  if (!rec.is_symlink()) return Status::error(EINVAL);
  DFS_ASSIGN_OR_RETURN(auto v,
                       m_volume.meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, kSymlinkKey)));
  if (!v.has_value()) return Status::error(EUCLEAN, "symlink without target");
  return std::move(*v);
}

Result<InodeRecord> Namespace::link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  DFS_RETURN_IF_ERROR(check_name(new_name));
  auto guard = m_locks.lock_exclusive({new_parent, ino});
  DFS_ASSIGN_OR_RETURN(InodeRecord dir, m_inodes.load(new_parent));
  if (!dir.is_dir()) return Status::error(ENOTDIR);
  if (dir.nlink == 0) return Status::error(ENOENT);
  DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
  if (rec.is_dir()) return Status::error(EPERM);
  if (rec.nlink == 0) return Status::error(ENOENT);
  if (rec.nlink >= kLinkMax) return Status::error(EMLINK);
  DFS_ASSIGN_OR_RETURN(auto existing, m_inodes.dentry(new_parent, new_name));
  if (existing.has_value()) return Status::error(EEXIST);
  Timestamp now = now_timestamp();
  rocksdb::WriteBatch b;
  ++rec.nlink;
  rec.ctime = now;
  m_inodes.put(&b, rec);
  m_inodes.put_dentry(&b, new_parent, new_name, ino, rec.mode & S_IFMT);
  dir.mtime = dir.ctime = now;
  m_inodes.put(&b, dir);
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  return rec;
}

Status Namespace::delete_inode(rocksdb::WriteBatch* b, uint64_t ino,
                               std::vector<DiskRange>* freed) {
  auto& meta = m_volume.meta();
  std::string prefix = KeyCodec::extent_prefix(ino);
  std::string upper = KeyCodec::prefix_end(prefix);
  rocksdb::Slice lower_s(prefix), upper_s(upper);
  auto it = meta.bounded_iterator(Cf::kExtents, &lower_s, &upper_s);
  // Point deletes, not DeleteRange: range tombstones in the memtable make
  // every later read and iterator slower, and unlink-heavy work piles them up.
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode({it->value().data(), it->value().size()}));
    append_space(e, freed);
    b->Delete(meta.handle(Cf::kExtents), it->key());
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "extent scan"));
  auto xit = meta.bounded_iterator(Cf::kXattrs, &lower_s, &upper_s);
  for (xit->Seek(prefix); xit->Valid() && xit->key().starts_with(prefix); xit->Next()) {
    b->Delete(meta.handle(Cf::kXattrs), xit->key());
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(xit->status(), "xattr scan"));
  auto rec = m_inodes.load(ino);
  if (rec.is_ok()) m_reservations.forget(b, rec.value());
  b->Delete(meta.handle(Cf::kInodes), KeyCodec::inode_key(ino));
  m_tiering.forget(ino);
  return Status::ok();
}

Status Namespace::drop_link(rocksdb::WriteBatch* b, InodeRecord* victim,
                            std::vector<DiskRange>* freed) {
  victim->ctime = now_timestamp();
  victim->nlink = victim->is_dir() ? 0 : victim->nlink - 1;
  if (victim->nlink > 0) {
    m_inodes.put(b, *victim);
    return Status::ok();
  }
  if (m_open.is_open(victim->ino)) {
    // Unlinked while open: keep the data until the last close; the orphan
    // record lets mount clean it up after a crash.
    m_inodes.put(b, *victim);
    b->Put(m_volume.meta().handle(Cf::kVolume), KeyCodec::orphan_key(victim->ino), "");
    return Status::ok();
  }
  DFS_RETURN_IF_ERROR(delete_inode(b, victim->ino, freed));
  m_inodes.add_inodes(-1);
  return Status::ok();
}

Status Namespace::remove_entry(uint64_t parent, std::string_view name, bool want_dir) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  DFS_RETURN_IF_ERROR(check_name(name));
  for (;;) {
    DFS_ASSIGN_OR_RETURN(auto d, m_inodes.dentry(parent, name));
    if (!d.has_value()) return Status::error(ENOENT);
    uint64_t child = d->first;
    auto guard = m_locks.lock_exclusive({parent, child});
    DFS_ASSIGN_OR_RETURN(auto again, m_inodes.dentry(parent, name));
    if (!again.has_value() || again->first != child) continue;  // changed before we locked
    DFS_ASSIGN_OR_RETURN(InodeRecord dir, m_inodes.load(parent));
    DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(child));
    if (want_dir) {
      if (!rec.is_dir()) return Status::error(ENOTDIR);
      DFS_ASSIGN_OR_RETURN(auto empty, m_inodes.dir_is_empty(child));
      if (!empty) return Status::error(ENOTEMPTY);
      --dir.nlink;
    } else if (rec.is_dir()) {
      return Status::error(EISDIR);
    }
    rocksdb::WriteBatch b;
    std::vector<DiskRange> freed;
    m_inodes.delete_dentry(&b, parent, name);
    DFS_RETURN_IF_ERROR(drop_link(&b, &rec, &freed));
    dir.mtime = dir.ctime = now_timestamp();
    m_inodes.put(&b, dir);
    DFS_RETURN_IF_ERROR(m_commit.apply(&b));
    guard.release();
    m_release_space(freed);
    return Status::ok();
  }
}

Status Namespace::unlink(uint64_t parent, std::string_view name) {
  return remove_entry(parent, name, false);
}

Status Namespace::rmdir(uint64_t parent, std::string_view name) {
  if (name == ".") return Status::error(EINVAL);
  if (name == "..") return Status::error(ENOTEMPTY);
  return remove_entry(parent, name, true);
}

Status Namespace::is_ancestor(uint64_t maybe_ancestor, uint64_t ino, bool* result) const {
  // Walks the parent pointers of directories from `ino` up to the root.
  *result = false;
  for (int depth = 0; depth < 4096; ++depth) {
    if (ino == maybe_ancestor) {
      *result = true;
      return Status::ok();
    }
    if (ino == kRootIno) return Status::ok();
    DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
    ino = rec.parent;
  }
  return Status::error(ELOOP, "directory tree too deep or looped");
}

Status Namespace::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                         std::string_view new_name, unsigned flags) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  constexpr unsigned kSupported = RENAME_NOREPLACE | RENAME_EXCHANGE;
  if ((flags & ~kSupported) != 0 || (flags & kSupported) == kSupported)
    return Status::error(EINVAL);
  const bool exchange = (flags & RENAME_EXCHANGE) != 0;
  DFS_RETURN_IF_ERROR(check_name(name));
  DFS_RETURN_IF_ERROR(check_name(new_name));
  for (;;) {
    DFS_ASSIGN_OR_RETURN(auto src_d, m_inodes.dentry(parent, name));
    if (!src_d.has_value()) return Status::error(ENOENT);
    DFS_ASSIGN_OR_RETURN(auto dst_d, m_inodes.dentry(new_parent, new_name));
    uint64_t src = src_d->first;
    uint64_t dst = dst_d.has_value() ? dst_d->first : 0;
    std::vector<uint64_t> keys{parent, new_parent, src};
    if (dst != 0) keys.push_back(dst);
    auto guard = m_locks.lock(keys, true);
    auto src_again = m_inodes.dentry(parent, name);
    auto dst_again = m_inodes.dentry(new_parent, new_name);
    if (!src_again.is_ok()) return src_again.status();
    if (!dst_again.is_ok()) return dst_again.status();
    if (!src_again->has_value() || (*src_again)->first != src) continue;
    if ((dst_again->has_value() ? (*dst_again)->first : 0) != dst) continue;

    if (dst != 0 && (flags & RENAME_NOREPLACE)) return Status::error(EEXIST);
    if (exchange && dst == 0) return Status::error(ENOENT);
    if (src == dst) return Status::ok();  // two links to one inode: nothing to do
    if (exchange) {
      guard.release();
      return exchange_entries(parent, name, src, new_parent, new_name, dst);
    }

    std::map<uint64_t, InodeRecord> recs;  // every inode this rename touches, once
    DFS_RETURN_IF_ERROR(m_inodes.load_many(keys, &recs));
    InodeRecord& src_rec = recs[src];
    if (!recs[new_parent].is_dir()) return Status::error(ENOTDIR);
    if (recs[new_parent].nlink == 0) return Status::error(ENOENT);
    if (dst != 0) {
      InodeRecord& dst_rec = recs[dst];
      if (src_rec.is_dir() && !dst_rec.is_dir()) return Status::error(ENOTDIR);
      if (!src_rec.is_dir() && dst_rec.is_dir()) return Status::error(EISDIR);
      if (dst_rec.is_dir()) {
        DFS_ASSIGN_OR_RETURN(auto empty, m_inodes.dir_is_empty(dst));
        if (!empty) return Status::error(ENOTEMPTY);
      }
    }
    if (src_rec.is_dir() && parent != new_parent) {
      bool inside = false;
      DFS_RETURN_IF_ERROR(is_ancestor(src, new_parent, &inside));
      if (inside) return Status::error(EINVAL);
      if (dst == 0 && recs[new_parent].nlink >= kLinkMax) return Status::error(EMLINK);
    }

    Timestamp now = now_timestamp();
    rocksdb::WriteBatch b;
    std::vector<DiskRange> freed;
    m_inodes.delete_dentry(&b, parent, name);
    m_inodes.put_dentry(&b, new_parent, new_name, src, src_rec.mode & S_IFMT);
    if (dst != 0) {
      InodeRecord& dst_rec = recs[dst];
      if (dst_rec.is_dir()) --recs[new_parent].nlink;
      DFS_RETURN_IF_ERROR(drop_link(&b, &dst_rec, &freed));
    }
    if (src_rec.is_dir() && parent != new_parent) {
      --recs[parent].nlink;
      ++recs[new_parent].nlink;
      src_rec.parent = new_parent;
    }
    src_rec.ctime = now;
    recs[parent].mtime = recs[parent].ctime = now;
    recs[new_parent].mtime = recs[new_parent].ctime = now;
    for (auto& [ino, rec] : recs) {
      if (ino == dst && dst != 0) continue;  // drop_link wrote or deleted it
      m_inodes.put(&b, rec);
    }
    crash_point("rename.before_commit");
    DFS_RETURN_IF_ERROR(m_commit.apply(&b));
    guard.release();
    m_release_space(freed);
    return Status::ok();
  }
}

Status Namespace::exchange_entries(uint64_t parent, std::string_view name, uint64_t src,
                                   uint64_t new_parent, std::string_view new_name, uint64_t dst) {
  // RENAME_EXCHANGE: both names stay, their inodes swap, in one batch.
  std::vector<uint64_t> keys{parent, new_parent, src, dst};
  auto guard = m_locks.lock(keys, true);
  auto a = m_inodes.dentry(parent, name);
  auto b_d = m_inodes.dentry(new_parent, new_name);
  if (!a.is_ok()) return a.status();
  if (!b_d.is_ok()) return b_d.status();
  if (!a->has_value() || (*a)->first != src || !b_d->has_value() || (*b_d)->first != dst) {
    guard.release();
    return rename(parent, name, new_parent, new_name, RENAME_EXCHANGE);  // raced: start over
  }
  std::map<uint64_t, InodeRecord> recs;
  DFS_RETURN_IF_ERROR(m_inodes.load_many(keys, &recs));
  InodeRecord& src_rec = recs[src];
  InodeRecord& dst_rec = recs[dst];
  if (parent != new_parent) {
    // A directory may not end up inside itself.
    bool inside = false;
    if (src_rec.is_dir()) DFS_RETURN_IF_ERROR(is_ancestor(src, new_parent, &inside));
    if (!inside && dst_rec.is_dir()) DFS_RETURN_IF_ERROR(is_ancestor(dst, parent, &inside));
    if (inside) return Status::error(EINVAL);
    if (src_rec.is_dir()) {
      --recs[parent].nlink;
      ++recs[new_parent].nlink;
      src_rec.parent = new_parent;
    }
    if (dst_rec.is_dir()) {
      --recs[new_parent].nlink;
      ++recs[parent].nlink;
      dst_rec.parent = parent;
    }
  }
  Timestamp now = now_timestamp();
  rocksdb::WriteBatch b;
  m_inodes.put_dentry(&b, parent, name, dst, dst_rec.mode & S_IFMT);
  m_inodes.put_dentry(&b, new_parent, new_name, src, src_rec.mode & S_IFMT);
  src_rec.ctime = dst_rec.ctime = now;
  recs[parent].mtime = recs[parent].ctime = now;
  recs[new_parent].mtime = recs[new_parent].ctime = now;
  for (auto& [ino, rec] : recs) m_inodes.put(&b, rec);
  return m_commit.apply(&b);
}

Result<std::vector<DirEntry>> Namespace::list_dir(uint64_t ino) {
  auto guard = m_locks.lock_shared(ino);
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  if (!rec.is_dir()) return Status::error(ENOTDIR);
  std::vector<DirEntry> out;
  out.push_back(DirEntry{".", ino, S_IFDIR});
  out.push_back(DirEntry{"..", rec.parent == 0 ? ino : rec.parent, S_IFDIR});
  auto it = m_volume.meta().iterator(Cf::kDentries);
  std::string prefix = KeyCodec::dentry_prefix(ino);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 12) return Status::error(EUCLEAN, "malformed directory entry");
    auto name = KeyCodec::dentry_name({it->key().data(), it->key().size()});
    out.push_back(DirEntry{std::string(name), get_le<uint64_t>(it->value().data()),
                           get_le<uint32_t>(it->value().data() + 8)});
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "directory scan"));
  const bool touch_atime = atime_due(rec);
  guard.release();
  if (touch_atime) update_atime(ino);
  return out;
}

Status Namespace::access(uint64_t ino, int mask, const Caller& caller) {
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  if (mask == F_OK) return Status::ok();
  uint32_t mode = rec.mode;
  if (caller.uid == 0) {
    // root may do anything except execute a file that nobody may execute.
    if ((mask & X_OK) && !rec.is_dir() && !(mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
      return Status::error(EACCES);
    return Status::ok();
  }
  uint32_t bits;
  if (caller.uid == rec.uid) {
    bits = (mode >> 6) & 7;
  } else if (caller.in_group(rec.gid)) {
    bits = (mode >> 3) & 7;
  } else {
    bits = mode & 7;
  }
  if ((static_cast<uint32_t>(mask) & bits) != static_cast<uint32_t>(mask & 7))
    return Status::error(EACCES);
  return Status::ok();
}

Result<InodeRecord> Namespace::setattr(uint64_t ino, const SetAttr& attr, const Caller& caller) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  auto guard = m_locks.lock_exclusive({ino});
  DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
  Timestamp now = now_timestamp();
  if (attr.valid & SetAttr::kMode) {
    uint32_t mode = attr.mode & 07777;
    // A non-member of the (new) group, other than root, cannot leave a
    // setgid bit behind, on a file or a directory (setattr_prepare()).
    const uint32_t gid = (attr.valid & SetAttr::kGid) ? attr.gid : rec.gid;
    if (!caller.may_keep_setgid(gid)) mode &= ~static_cast<uint32_t>(S_ISGID);
    rec.mode = (rec.mode & S_IFMT) | mode;
  }
  bool owner_changed = false;
  if ((attr.valid & SetAttr::kUid) && attr.uid != rec.uid) {
    rec.uid = attr.uid;
    owner_changed = true;
  }
  if ((attr.valid & SetAttr::kGid) && attr.gid != rec.gid) {
    rec.gid = attr.gid;
    owner_changed = true;
  }
  if (owner_changed && rec.is_reg() && !(attr.valid & SetAttr::kMode)) {
    // chown clears set-user-ID, and set-group-ID where it means "setgid".
    rec.mode &= ~static_cast<uint32_t>(S_ISUID);
    if (rec.mode & S_IXGRP) rec.mode &= ~static_cast<uint32_t>(S_ISGID);
  }
  if (attr.valid & SetAttr::kAtimeNow) {
    rec.atime = now;
  } else if (attr.valid & SetAttr::kAtime) {
    rec.atime = attr.atime;
  }
  if (attr.valid & SetAttr::kMtimeNow) {
    rec.mtime = now;
  } else if (attr.valid & SetAttr::kMtime) {
    rec.mtime = attr.mtime;
  }
  rec.ctime = (attr.valid & SetAttr::kCtime) ? attr.ctime : now;
  rocksdb::WriteBatch b;
  if (attr.valid & SetAttr::kMode) {
    // posix_acl_chmod(): an access ACL follows the new mode.
    DFS_ASSIGN_OR_RETURN(auto acl, load_acl(ino, PosixAcl::kAccessName));
    if (acl.has_value()) {
      acl->apply_chmod(rec.mode);
      b.Put(m_volume.meta().handle(Cf::kXattrs), KeyCodec::xattr_key(ino, PosixAcl::kAccessName),
            acl->encode());
    }
  }
  m_inodes.put(&b, rec);
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  return rec;
}

Status Namespace::open_dir(uint64_t ino) {
  {
    auto guard = m_locks.lock_shared(ino);
    DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
    if (!rec.is_dir()) return Status::error(ENOTDIR);
    // Counted while the inode lock keeps an rmdir from finishing between
    // the check and the count.
    m_open.open(ino);
  }
  return Status::ok();
}

Status Namespace::close(uint64_t ino) {
  if (!m_open.close(ino)) return Status::ok();  // other handles remain
  auto guard = m_locks.lock_whole_file(ino);
  if (m_open.is_open(ino)) return Status::ok();  // reopened meanwhile
  auto rec = m_inodes.load(ino);
  if (!rec.is_ok()) return rec.err() == ENOENT ? Status::ok() : rec.status();
  if (rec->nlink > 0) return Status::ok();
  // Last close of an unlinked file: now its space can go.
  rocksdb::WriteBatch b;
  std::vector<DiskRange> freed;
  DFS_RETURN_IF_ERROR(delete_inode(&b, ino, &freed));
  b.Delete(m_volume.meta().handle(Cf::kVolume), KeyCodec::orphan_key(ino));
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  guard.release();
  m_inodes.add_inodes(-1);
  m_release_space(freed);
  return Status::ok();
}

Result<size_t> Namespace::remove_orphans() {
  auto& meta = m_volume.meta();
  std::vector<uint64_t> orphans;
  auto it = meta.iterator(Cf::kVolume);
  std::string prefix = KeyCodec::kOrphanPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() == prefix.size() + 8)
      orphans.push_back(get_be64(it->key().data() + prefix.size()));
  }
  for (uint64_t ino : orphans) {
    rocksdb::WriteBatch b;
    std::vector<DiskRange> freed;
    DFS_RETURN_IF_ERROR(delete_inode(&b, ino, &freed));
    b.Delete(meta.handle(Cf::kVolume), KeyCodec::orphan_key(ino));
    DFS_RETURN_IF_ERROR(m_commit.apply(&b));
    m_release_space(freed);
    spdlog::info("removed orphaned inode {} (unlinked while open before a crash)", ino);
  }
  return orphans.size();
}

}  // namespace dynamicfs

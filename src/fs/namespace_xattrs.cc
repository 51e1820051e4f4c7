// Namespace extended attributes, stored in the `xattrs` column family under
// (ino, name). Names beginning with NUL are internal (symlink targets) and
// never listed. POSIX ACLs are xattrs too; setting one keeps the mode in
// step, and new nodes inherit their directory's default ACL.
#include <sys/xattr.h>

#include "metadata/key_codec.h"
#include "src/fs/namespace.h"

namespace dynamicfs {

namespace {
constexpr size_t kXattrNameMax = 255;
constexpr size_t kXattrValueMax = 65536;

Status check_xattr_name(std::string_view name) {
  if (name.empty()) return Status::error(EINVAL);
  if (name.size() > kXattrNameMax) return Status::error(ERANGE);
  return Status::ok();
}

bool is_acl_name(std::string_view name) {
  return name == PosixAcl::kAccessName || name == PosixAcl::kDefaultName;
}
}  // namespace

Result<std::optional<PosixAcl>> Namespace::load_acl(uint64_t ino, const char* name) const {
  DFS_ASSIGN_OR_RETURN(auto v, m_volume.meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name)));
  if (!v.has_value()) return std::optional<PosixAcl>{};
  auto acl = PosixAcl::parse(*v);
  if (!acl.is_ok()) {
    return Status::error(EUCLEAN, "inode " + std::to_string(ino) + ": stored " + name + ": " +
                                      acl.status().message());
  }
  if (acl->empty()) return std::optional<PosixAcl>{};
  return std::optional<PosixAcl>(std::move(acl).value());
}

Status Namespace::inherit_acls(rocksdb::WriteBatch* b, uint64_t parent, InodeRecord* rec,
                               const Caller& c) {
  const bool symlink = S_ISLNK(rec->mode);
  auto def = symlink ? Result<std::optional<PosixAcl>>(std::optional<PosixAcl>{})
                     : load_acl(parent, PosixAcl::kDefaultName);
  if (!def.is_ok()) return def.status();
  if (!def->has_value()) {
    if (!symlink) rec->mode &= ~(c.umask & 0777);  // no default ACL: the umask applies
    return Status::ok();
  }
  // posix_acl_create(): the default ACL replaces the umask.
  auto* cf = m_volume.meta().handle(Cf::kXattrs);
  PosixAcl access = (*def)->inherit(&rec->mode);
  if (!access.equivalent_to_mode())
    b->Put(cf, KeyCodec::xattr_key(rec->ino, PosixAcl::kAccessName), access.encode());
  if (rec->is_dir())
    b->Put(cf, KeyCodec::xattr_key(rec->ino, PosixAcl::kDefaultName), (*def)->encode());
  return Status::ok();
}

Status Namespace::set_acl(rocksdb::WriteBatch* b, InodeRecord* rec, const Caller& caller,
                          std::string_view name, std::string_view value) {
  DFS_ASSIGN_OR_RETURN(auto acl, PosixAcl::parse(value));
  auto* cf = m_volume.meta().handle(Cf::kXattrs);
  const std::string key = KeyCodec::xattr_key(rec->ino, name);
  if (name == PosixAcl::kDefaultName) {
    if (!rec->is_dir()) return Status::error(EACCES);  // as posix_acl_xattr_set()
    if (acl.empty()) {
      b->Delete(cf, key);
    } else {
      b->Put(cf, key, acl.encode());
    }
    return Status::ok();
  }
  if (acl.empty()) {
    b->Delete(cf, key);
    return Status::ok();
  }
  // posix_acl_update_mode(): the mode follows the ACL, and an ACL that the
  // mode alone expresses is not stored.
  rec->mode = (rec->mode & ~0777u) | acl.mode_bits();
  if (!caller.may_keep_setgid(rec->gid)) rec->mode &= ~static_cast<uint32_t>(S_ISGID);
  if (acl.equivalent_to_mode()) {
    b->Delete(cf, key);
  } else {
    b->Put(cf, key, acl.encode());
  }
  return Status::ok();
}

Status Namespace::setxattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                           const Caller& caller) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  if (value.size() > kXattrValueMax) return Status::error(E2BIG);
  auto guard = m_locks.lock_exclusive({ino});
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  DFS_ASSIGN_OR_RETURN(auto existing,
                       m_volume.meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name)));
  if ((flags & XATTR_CREATE) && existing.has_value()) return Status::error(EEXIST);
  if ((flags & XATTR_REPLACE) && !existing.has_value()) return Status::error(ENODATA);
  InodeRecord r = rec;
  r.ctime = now_timestamp();
  rocksdb::WriteBatch b;
  if (is_acl_name(name)) {
    DFS_RETURN_IF_ERROR(set_acl(&b, &r, caller, name, value));
  } else {
    b.Put(m_volume.meta().handle(Cf::kXattrs), KeyCodec::xattr_key(ino, name),
          rocksdb::Slice(value.data(), value.size()));
  }
  m_inodes.put(&b, r);
  return m_commit.apply(&b);
}

Result<std::string> Namespace::getxattr(uint64_t ino, std::string_view name) {
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  DFS_RETURN_IF_ERROR(m_inodes.load(ino).status());
  DFS_ASSIGN_OR_RETURN(auto v, m_volume.meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name)));
  if (!v.has_value()) return Status::error(ENODATA);
  return std::move(*v);
}

Result<std::vector<std::string>> Namespace::listxattr(uint64_t ino) {
  DFS_RETURN_IF_ERROR(m_inodes.load(ino).status());
  std::vector<std::string> names;
  auto it = m_volume.meta().iterator(Cf::kXattrs);
  std::string prefix = KeyCodec::xattr_prefix(ino);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    if (!name.empty() && name[0] != '\0') names.push_back(std::move(name));
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "xattr scan"));
  return names;
}

Status Namespace::removexattr(uint64_t ino, std::string_view name) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  auto guard = m_locks.lock_exclusive({ino});
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  DFS_ASSIGN_OR_RETURN(auto existing,
                       m_volume.meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name)));
  if (!existing.has_value()) return Status::error(ENODATA);
  InodeRecord r = rec;
  r.ctime = now_timestamp();
  rocksdb::WriteBatch b;
  b.Delete(m_volume.meta().handle(Cf::kXattrs), KeyCodec::xattr_key(ino, name));
  m_inodes.put(&b, r);
  return m_commit.apply(&b);
}

}  // namespace dynamicfs

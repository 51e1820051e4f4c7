// Fsck: one pass over each column family into memory, then the cross checks
// in dependency order (entries, reachability and link counts, extents,
// space), collecting the repairs in one WriteBatch applied at the end.
#include "src/fs/fsck.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "metadata/extent_record.h"
#include "metadata/inode_record.h"
#include "metadata/key_codec.h"
#include "src/common/block_size.h"
#include "src/common/clock.h"
#include "src/common/coding.h"
#include "src/extent/extent_space.h"
#include "src/extent/shared_extents.h"
#include "src/extent/space_checkpoint.h"

namespace dynamicfs {

namespace {

constexpr uint64_t kBlock = kBlockSize;
constexpr const char* kLostFound = "lost+found";

struct Entry {
  uint64_t parent = 0;
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;
};

std::string entry_value(uint64_t ino, uint32_t type) {
  std::string v;
  put_le<uint64_t>(&v, ino);
  put_le<uint32_t>(&v, type);
  return v;
}

std::string path_of(const Entry& e) {
  return "entry '" + e.name + "' in directory " + std::to_string(e.parent);
}

// The state of one run: what was read, and the repairs collected so far.
class Checker {
 public:
  Checker(Volume& vol, bool repair) : m_vol(vol), m_meta(vol.meta()), m_repair(repair) {}

  Status run(FsckReport* rep);

 private:
  void problem(std::string what, bool fixable) {
    m_rep->problems.push_back({std::move(what), fixable});
    if (!fixable) m_uncorrected = true;
  }
  rocksdb::ColumnFamilyHandle* cf(Cf c) { return m_meta.handle(c); }
  void dirty(uint64_t ino) { m_dirty.insert(ino); }

  Status load_inodes();
  Status load_entries();
  Status load_orphans();
  Status check_reservations();
  void check_entries();
  void reconnect_lost();
  void check_link_counts();
  Status check_extents();
  Status check_space();
  // The space snapshots hold counts as used (and shared with the volume).
  Status add_snapshots();

  Volume& m_vol;
  MetaStore& m_meta;
  bool m_repair;
  FsckReport* m_rep = nullptr;
  bool m_uncorrected = false;
  rocksdb::WriteBatch m_batch;

  std::map<uint64_t, InodeRecord> m_inodes;
  std::set<uint64_t> m_dirty;  // inode records to write back
  std::vector<Entry> m_entries;
  std::set<uint64_t> m_orphans;
  std::map<uint64_t, uint32_t> m_links;       // entries naming each inode
  std::map<uint64_t, uint32_t> m_subdirs;     // subdirectories of each directory
  std::map<uint64_t, uint64_t> m_dir_parent;  // the directory holding each directory
  uint64_t m_next_ino = 0;
  std::vector<DiskRange> m_refs;  // every valid extent's disk space
};

Status Checker::load_inodes() {
  auto it = m_meta.iterator(Cf::kInodes);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (k.size() != 8) {
      problem("malformed inode key of " + std::to_string(k.size()) + " bytes", true);
      m_batch.Delete(cf(Cf::kInodes), it->key());
      continue;
    }
    uint64_t ino = KeyCodec::decode_inode_key(k);
    auto rec = InodeRecord::decode(ino, {it->value().data(), it->value().size()});
    if (!rec.is_ok()) {
      problem("inode " + std::to_string(ino) + " cannot be decoded: " + rec.status().message(),
              false);
      continue;
    }
    m_inodes.emplace(ino, std::move(rec).value());
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "scanning inodes"));
  auto root = m_inodes.find(kRootIno);
  if (root == m_inodes.end() || !root->second.is_dir())
    problem("the root directory (inode 1) is missing or not a directory", false);
  DFS_ASSIGN_OR_RETURN(auto next, m_meta.get(Cf::kVolume, KeyCodec::kNextIno));
  m_next_ino = next.has_value() && next->size() == 8 ? get_le<uint64_t>(next->data()) : 0;
  uint64_t needed = m_inodes.empty() ? kRootIno + 1 : m_inodes.rbegin()->first + 1;
  if (m_next_ino < needed) {
    problem("next_ino " + std::to_string(m_next_ino) + " is below an inode in use", true);
    m_next_ino = needed;
  }
  m_rep->inodes = m_inodes.size();
  return Status::ok();
}

Status Checker::load_entries() {
  auto it = m_meta.iterator(Cf::kDentries);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (k.size() <= 8 || it->value().size() != 12) {
      problem("malformed directory entry record", true);
      m_batch.Delete(cf(Cf::kDentries), it->key());
      continue;
    }
    Entry e;
    e.parent = get_be64(k.data());
    e.name = std::string(KeyCodec::dentry_name(k));
    e.ino = get_le<uint64_t>(it->value().data());
    e.type = get_le<uint32_t>(it->value().data() + 8);
    m_entries.push_back(std::move(e));
  }
  m_rep->entries = m_entries.size();
  return status_from_rocksdb(it->status(), "scanning directory entries");
}

Status Checker::check_reservations() {
  // The index of fallocate reservations must match the inode records:
  // mount sums it to know how much of the pool to keep free.
  std::set<uint64_t> indexed;
  auto it = m_meta.iterator(Cf::kVolume);
  const std::string prefix = KeyCodec::kReservePrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    const uint64_t ino = get_be64(it->key().data() + prefix.size());
    auto rec = m_inodes.find(ino);
    const uint64_t want = rec == m_inodes.end() ? 0 : rec->second.reserved_raw();
    const bool ok = it->value().size() == 8 && get_le<uint64_t>(it->value().data()) == want;
    if (want == 0) {
      problem("reservation record of inode " + std::to_string(ino) + ", which reserves nothing",
              true);
      m_batch.Delete(cf(Cf::kVolume), it->key());
    } else if (!ok) {
      problem("reservation record of inode " + std::to_string(ino) + " is wrong", true);
    }
    indexed.insert(ino);
  }
  for (const auto& [ino, rec] : m_inodes) {
    if (rec.reserved_raw() == 0) continue;
    if (indexed.count(ino) == 0)
      problem("inode " + std::to_string(ino) + " reserves space without a record", true);
    std::string v;
    put_le<uint64_t>(&v, rec.reserved_raw());
    m_batch.Put(cf(Cf::kVolume), KeyCodec::reserve_key(ino), v);  // applied only on repair
  }
  return status_from_rocksdb(it->status(), "scanning reservation records");
}

Status Checker::load_orphans() {
  auto it = m_meta.iterator(Cf::kVolume);
  const std::string prefix = KeyCodec::kOrphanPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + 8) continue;
    uint64_t ino = get_be64(it->key().data() + prefix.size());
    if (m_inodes.count(ino) == 0) {
      problem("orphan record of missing inode " + std::to_string(ino), true);
      m_batch.Delete(cf(Cf::kVolume), it->key());
      continue;
    }
    m_orphans.insert(ino);
  }
  if (!m_orphans.empty()) {
    m_rep->notes.push_back(std::to_string(m_orphans.size()) +
                           " inode(s) unlinked while open; freed at the next mount");
  }
  return status_from_rocksdb(it->status(), "scanning orphan records");
}

void Checker::check_entries() {
  for (const Entry& e : m_entries) {
    const std::string key = KeyCodec::dentry_key(e.parent, e.name);
    auto parent = m_inodes.find(e.parent);
    auto target = m_inodes.find(e.ino);
    if (parent == m_inodes.end() || !parent->second.is_dir()) {
      problem(path_of(e) + ": the directory does not exist", true);
      m_batch.Delete(cf(Cf::kDentries), key);
      continue;
    }
    if (target == m_inodes.end()) {
      problem(path_of(e) + " points to missing inode " + std::to_string(e.ino), true);
      m_batch.Delete(cf(Cf::kDentries), key);
      continue;
    }
    const uint32_t type = target->second.mode & S_IFMT;
    if (type == S_IFDIR && m_dir_parent.count(e.ino) > 0) {
      problem(path_of(e) + ": directory " + std::to_string(e.ino) + " has a second entry", true);
      m_batch.Delete(cf(Cf::kDentries), key);
      continue;
    }
    if (e.type != type) {
      problem(path_of(e) + ": entry type does not match inode " + std::to_string(e.ino), true);
      m_batch.Put(cf(Cf::kDentries), key, entry_value(e.ino, type));
    }
    ++m_links[e.ino];
    if (type == S_IFDIR) {
      ++m_subdirs[e.parent];
      m_dir_parent[e.ino] = e.parent;
    }
  }
}

void Checker::reconnect_lost() {
  std::vector<uint64_t> lost;
  for (const auto& [ino, rec] : m_inodes) {
    if (ino != kRootIno && m_links.count(ino) == 0 && m_orphans.count(ino) == 0)
      lost.push_back(ino);
  }
  if (lost.empty() || m_inodes.count(kRootIno) == 0) return;
  for (uint64_t ino : lost)
    problem("inode " + std::to_string(ino) + " is not reachable from the root", true);
  if (!m_repair) return;
  // /lost+found, made if needed; each lost inode is linked as #INO.
  uint64_t lf = 0;
  for (const Entry& e : m_entries) {
    auto t = m_inodes.find(e.ino);
    if (e.parent == kRootIno && e.name == kLostFound && t != m_inodes.end() && t->second.is_dir())
      lf = e.ino;
  }
  if (lf == 0) {
    InodeRecord d;
    d.ino = lf = m_next_ino++;
    d.mode = S_IFDIR | 0700;
    d.nlink = 2;
    d.size = 4096;
    d.generation = 1;
    d.parent = kRootIno;
    d.atime = d.mtime = d.ctime = d.crtime = now_timestamp();
    m_inodes.emplace(lf, d);
    dirty(lf);
    m_batch.Put(cf(Cf::kDentries), KeyCodec::dentry_key(kRootIno, kLostFound),
                entry_value(lf, S_IFDIR));
    ++m_links[lf];
    ++m_subdirs[kRootIno];
    m_dir_parent[lf] = kRootIno;
  }
  for (uint64_t ino : lost) {
    InodeRecord& rec = m_inodes[ino];
    const uint32_t type = rec.mode & S_IFMT;
    // Built with append: GCC 12 at -O3 warns falsely (-Wrestrict) about
    // "#" + std::to_string().
    std::string name = "#";
    name.append(std::to_string(ino));
    m_batch.Put(cf(Cf::kDentries), KeyCodec::dentry_key(lf, name), entry_value(ino, type));
    ++m_links[ino];
    if (type == S_IFDIR) {
      ++m_subdirs[lf];
      m_dir_parent[ino] = lf;
    }
  }
}

void Checker::check_link_counts() {
  for (auto& [ino, rec] : m_inodes) {
    // Orphans have nlink 0 by design; unreachable inodes were reported.
    if (ino != kRootIno && m_links.count(ino) == 0) continue;
    const uint32_t want = rec.is_dir() ? 2 + m_subdirs[ino] : m_links[ino];
    if (rec.nlink != want) {
      problem("inode " + std::to_string(ino) + " has link count " + std::to_string(rec.nlink) +
                  ", should be " + std::to_string(want),
              true);
      rec.nlink = want;
      dirty(ino);
    }
    if (rec.is_dir() && ino != kRootIno && m_dir_parent.count(ino) > 0 &&
        rec.parent != m_dir_parent[ino]) {
      problem("directory " + std::to_string(ino) + " names the wrong parent", true);
      rec.parent = m_dir_parent[ino];
      dirty(ino);
    }
  }
}

Status Checker::check_extents() {
  std::map<uint64_t, uint64_t> alloc;  // bytes of extents per inode
  uint64_t last_ino = 0, last_end = 0;
  auto it = m_meta.iterator(Cf::kExtents);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++m_rep->extents;
    std::string_view k(it->key().data(), it->key().size());
    auto drop = [&](const std::string& why, bool data_lost) {
      problem(why + (data_lost ? " (its data is lost)" : ""), true);
      m_batch.Delete(cf(Cf::kExtents), it->key());
    };
    if (k.size() != 16) {
      drop("malformed extent key", false);
      continue;
    }
    const uint64_t ino = KeyCodec::extent_key_ino(k), off = KeyCodec::extent_key_offset(k);
    const std::string where =
        "extent at offset " + std::to_string(off) + " of inode " + std::to_string(ino);
    auto e = ExtentRecord::decode({it->value().data(), it->value().size()});
    if (!e.is_ok()) {
      drop(where + " cannot be decoded", true);
      continue;
    }
    auto rec = m_inodes.find(ino);
    if (rec == m_inodes.end() || !rec->second.is_reg()) {
      drop(where + ": no such regular file", false);
      continue;
    }
    bool outside = e->length == 0 || e->length % kBlock != 0;
    e->for_each_space([&](uint32_t disk, uint64_t offset, uint64_t length) {
      outside = outside || disk >= m_vol.disk_count() ||
                offset < m_vol.superblock(disk).data_start ||
                offset + length > m_vol.superblock(disk).disk_size;
    });
    if (outside) {
      drop(where + " lies outside its disk's data area", true);
      continue;
    }
    if (off >= (rec->second.size + kBlock - 1) / kBlock * kBlock) {
      drop(where + " lies past the end of the file", false);
      continue;
    }
    if (ino == last_ino && off < last_end) {
      problem(where + " overlaps the extent before it", false);
      continue;
    }
    last_ino = ino;
    last_end = off + e->length;
    alloc[ino] += e->length;
    append_space(e.value(), &m_refs);
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "scanning extents"));
  for (auto& [ino, rec] : m_inodes) {
    if (!rec.is_reg() || rec.alloc_bytes == alloc[ino]) continue;
    problem("inode " + std::to_string(ino) + " counts " + std::to_string(rec.alloc_bytes) +
                " allocated bytes, its extents hold " + std::to_string(alloc[ino]),
            true);
    rec.alloc_bytes = alloc[ino];
    dirty(ino);
  }
  return Status::ok();
}

Status Checker::add_snapshots() {
  if (m_vol.read_only()) return Status::ok();  // checking a snapshot itself
  DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(m_vol.dir()));
  for (const auto& s : snaps) {
    auto refs = SnapshotCatalog::extent_refs(m_vol.dir(), s.name);
    if (!refs.is_ok()) {
      problem("snapshot " + s.name + ": " + refs.status().message(), false);
      continue;
    }
    m_refs.insert(m_refs.end(), refs->begin(), refs->end());
  }
  if (!snaps.empty()) {
    m_rep->notes.push_back(std::to_string(snaps.size()) +
                           " snapshot(s); their extents count as used space");
  }
  return Status::ok();
}

Status Checker::check_space() {
  SharedExtents shared;
  std::vector<DiskRange> used = SharedExtents::count(m_refs, &shared);
  for (const auto& r : used) m_rep->used_bytes += r.length;
  m_rep->shared_bytes = shared.shared_bytes();
  auto clean = m_meta.get(Cf::kVolume, KeyCodec::kCleanUnmount);
  if (!clean.is_ok()) return clean.status();
  if (!clean->has_value()) {
    if (m_vol.read_only()) return Status::ok();  // a snapshot has no space checkpoint
    m_rep->notes.push_back("not unmounted cleanly: free space is rebuilt at the next mount");
    return Status::ok();
  }
  // The checkpoint: free ranges and shared counts as the last unmount saw them.
  auto cp = read_space_checkpoint(m_meta, m_vol.disk_count());
  std::vector<std::pair<DiskRange, uint32_t>> saved_shared;
  std::vector<DiskRange> free;
  const bool malformed = !cp.is_ok();
  if (!malformed) {
    saved_shared = std::move(cp->shared);
    free = std::move(cp->free);
  }
  std::vector<std::string> wrong;
  if (malformed) wrong.push_back(cp.status().message());
  if ((*clean)->size() != 8 || get_le<uint64_t>((*clean)->data()) != m_inodes.size())
    wrong.push_back("a wrong inode count");
  // A checkpoint that cannot be read is not compared further.
  if (!malformed && saved_shared != shared.entries())
    wrong.push_back("wrong shared-extent reference counts");
  // Free and used space together must tile each disk's data area exactly.
  for (uint32_t d = 0; !malformed && d < m_vol.disk_count(); ++d) {
    std::vector<std::pair<uint64_t, uint64_t>> parts;  // start, end
    for (const auto& r : free)
      if (r.disk == d) parts.emplace_back(r.offset, r.offset + r.length);
    for (const auto& r : used)
      if (r.disk == d) parts.emplace_back(r.offset, r.offset + r.length);
    std::sort(parts.begin(), parts.end());
    uint64_t pos = m_vol.superblock(d).data_start;
    uint64_t twice = 0, leaked = 0;
    for (const auto& [s, e] : parts) {
      if (s < pos) twice += std::min(pos, e) - s;
      if (s > pos) leaked += s - pos;
      pos = std::max(pos, e);
    }
    const uint64_t end = m_vol.superblock(d).disk_size;
    if (pos < end) leaked += end - pos;
    if (twice > 0)
      wrong.push_back(std::to_string(twice) + " bytes of disk " + std::to_string(d) +
                      " both free and in use");
    if (leaked > 0)
      wrong.push_back(std::to_string(leaked) + " bytes of disk " + std::to_string(d) +
                      " neither free nor in use (leaked)");
  }
  for (const auto& w : wrong) {
    problem("space checkpoint: " + w, true);
  }
  if (!wrong.empty()) {
    // Without the clean marker the next mount rebuilds space from extents.
    m_batch.Delete(cf(Cf::kVolume), KeyCodec::kCleanUnmount);
  }
  return Status::ok();
}

Status Checker::run(FsckReport* rep) {
  m_rep = rep;
  DFS_RETURN_IF_ERROR(load_inodes());
  DFS_RETURN_IF_ERROR(load_entries());
  DFS_RETURN_IF_ERROR(load_orphans());
  DFS_RETURN_IF_ERROR(check_reservations());
  check_entries();
  reconnect_lost();
  check_link_counts();
  DFS_RETURN_IF_ERROR(check_extents());
  DFS_RETURN_IF_ERROR(add_snapshots());
  DFS_RETURN_IF_ERROR(check_space());
  const bool fixable = !rep->problems.empty();
  if (!m_repair || !fixable) return Status::ok();
  for (uint64_t ino : m_dirty)
    m_batch.Put(cf(Cf::kInodes), KeyCodec::inode_key(ino), m_inodes[ino].encode());
  std::string next;
  put_le<uint64_t>(&next, m_next_ino);
  m_batch.Put(cf(Cf::kVolume), KeyCodec::kNextIno, next);
  DFS_RETURN_IF_ERROR(m_meta.write(&m_batch, /*sync=*/true));
  rep->repaired = true;
  return Status::ok();
}

}  // namespace

int FsckReport::exit_code() const {
  bool left = false;
  for (const auto& p : problems) left = left || !p.fixable || !repaired;
  if (left) return 4;
  return problems.empty() ? 0 : 1;
}

Result<FsckReport> Fsck::run(Volume& volume, bool repair) {
  FsckReport rep;
  Checker c(volume, repair);
  DFS_RETURN_IF_ERROR(c.run(&rep));
  return rep;
}

}  // namespace dynamicfs

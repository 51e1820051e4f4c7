// InodeStore: keys and values of inodes, directory entries and extents (see
// docs/format.md), the extent maps in memory, and inode numbering.
#include "src/fs/inode_store.h"

#include <algorithm>

#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/extent/block_buffer.h"

namespace dynamicfs {

namespace {
constexpr std::string_view kPolicyKey{"\0policy", 7};
}  // namespace

bool InodeStore::BlockRef::same_as(const BlockRef& o) const {
  if (hole != o.hole) return false;
  if (hole) return true;
  return ext_file_off == o.ext_file_off && ext.copies == o.ext.copies &&
         ext.length == o.ext.length && ext.generation == o.ext.generation &&
         ext.skip == o.ext.skip && ext.ec_k == o.ext.ec_k;
}

InodeStore::InodeStore(MetaStore& meta, GroupCommitCoordinator& commit, uint64_t extent_map_budget)
    : m_meta(meta),
      m_commit(commit),
      m_extent_maps(meta.handle(Cf::kExtents)->GetID(), extent_map_budget) {}

Result<InodeRecord> InodeStore::load(uint64_t ino) const {
  DFS_ASSIGN_OR_RETURN(auto v, m_meta.get(Cf::kInodes, KeyCodec::inode_key(ino)));
  if (!v.has_value()) return Status::error(ENOENT);
  return InodeRecord::decode(ino, *v);
}

Status InodeStore::load_many(const std::vector<uint64_t>& inos,
                             std::map<uint64_t, InodeRecord>* out) const {
  for (uint64_t ino : inos) {
    if (out->count(ino)) continue;
    DFS_ASSIGN_OR_RETURN(auto r, load(ino));
    (*out)[ino] = std::move(r);
  }
  return Status::ok();
}

void InodeStore::put(rocksdb::WriteBatch* b, const InodeRecord& rec) const {
  b->Put(m_meta.handle(Cf::kInodes), KeyCodec::inode_key(rec.ino), rec.encode());
}

Result<std::optional<InodeStore::Dentry>> InodeStore::dentry(uint64_t parent,
                                                             std::string_view name) const {
  DFS_ASSIGN_OR_RETURN(auto v, m_meta.get(Cf::kDentries, KeyCodec::dentry_key(parent, name)));
  if (!v.has_value()) return std::optional<Dentry>();
  if (v->size() != 12) return Status::error(EUCLEAN, "malformed directory entry");
  return std::optional<Dentry>(
      Dentry(get_le<uint64_t>(v->data()), get_le<uint32_t>(v->data() + 8)));
}

void InodeStore::put_dentry(rocksdb::WriteBatch* b, uint64_t parent, std::string_view name,
                            uint64_t ino, uint32_t type) const {
  std::string v;
  put_le<uint64_t>(&v, ino);
  put_le<uint32_t>(&v, type);
  b->Put(m_meta.handle(Cf::kDentries), KeyCodec::dentry_key(parent, name), v);
}

void InodeStore::delete_dentry(rocksdb::WriteBatch* b, uint64_t parent,
                               std::string_view name) const {
  b->Delete(m_meta.handle(Cf::kDentries), KeyCodec::dentry_key(parent, name));
}

Result<bool> InodeStore::dir_is_empty(uint64_t ino) const {
  std::string prefix = KeyCodec::dentry_prefix(ino);
  std::string upper = KeyCodec::prefix_end(prefix);
  rocksdb::Slice lower_s(prefix), upper_s(upper);
  auto it = m_meta.bounded_iterator(Cf::kDentries, &lower_s, &upper_s);
  it->Seek(prefix);
  if (!it->status().ok()) return status_from_rocksdb(it->status(), "directory scan");
  return !(it->Valid() && it->key().starts_with(prefix));
}

Result<InodeStore::ExtentList> InodeStore::extents_in(uint64_t ino, uint64_t start,
                                                      uint64_t end) const {
  // From the file's map in memory: the cost follows the file's layout, not
  // its history (RocksDB's memtable keeps every deleted extent key until
  // the next flush, and a seek would step over all of them).
  // A file's records in [start, end) (all of them when start is 0 and end
  // the maximum), stopping with EFBIG past max_bytes.
  auto scan = [this](uint64_t file, uint64_t from, uint64_t to, uint64_t max_bytes,
                     ExtentMapCache::Map* out) -> Status {
    const std::string prefix = KeyCodec::extent_prefix(file);
    const std::string upper = KeyCodec::prefix_end(prefix);
    rocksdb::Slice lo(prefix), hi(upper);
    auto it = m_meta.bounded_iterator(Cf::kExtents, &lo, &hi);
    if (from == 0) {
      it->Seek(prefix);
    } else {
      // The record that starts at or before FROM may reach into the range.
      it->SeekForPrev(KeyCodec::extent_key(file, from));
      if (!it->Valid()) it->Seek(KeyCodec::extent_key(file, from));
    }
    uint64_t bytes = 0;
    for (; it->Valid(); it->Next()) {
      const uint64_t off = KeyCodec::extent_key_offset({it->key().data(), it->key().size()});
      if (off >= to) break;
      bytes += it->value().size();
      if (bytes > max_bytes) return Status::error(EFBIG);
      out->emplace_hint(out->end(), off, it->value().ToString());
    }
    return status_from_rocksdb(it->status(), "extent scan");
  };
  return m_extent_maps.lookup(
      ino, start, end,
      [&scan](uint64_t file, uint64_t max_bytes, ExtentMapCache::Map* out) {
        return scan(file, 0, UINT64_MAX, max_bytes, out);
      },
      [&scan](uint64_t file, uint64_t from, uint64_t to, ExtentMapCache::Map* out) {
        return scan(file, from, to, UINT64_MAX, out);
      });
}

Result<InodeStore::BlockRef> InodeStore::block_ref(uint64_t ino, uint64_t block_off) const {
  DFS_ASSIGN_OR_RETURN(auto ext, extents_in(ino, block_off, block_off + block_buffer::kBlock));
  BlockRef ref;
  if (!ext.empty()) {
    ref.hole = false;
    ref.ext_file_off = ext.front().first;
    ref.ext = std::move(ext.front().second);
  }
  return ref;
}

Result<std::vector<std::pair<std::string, std::string>>> InodeStore::raw_extents(
    uint64_t ino) const {
  const std::string prefix = KeyCodec::extent_prefix(ino);
  const std::string upper = KeyCodec::prefix_end(prefix);
  rocksdb::Slice lo(prefix), hi(upper);
  auto it = m_meta.bounded_iterator(Cf::kExtents, &lo, &hi);
  std::vector<std::pair<std::string, std::string>> out;
  for (it->Seek(prefix); it->Valid(); it->Next())
    out.emplace_back(it->key().ToString(), it->value().ToString());
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "extent scan"));
  return out;
}

Result<DataPolicy> InodeStore::data_policy(uint64_t ino) const {
  DFS_ASSIGN_OR_RETURN(auto v, m_meta.get(Cf::kXattrs, KeyCodec::xattr_key(ino, kPolicyKey)));
  if (!v.has_value()) return DataPolicy{};
  auto p = DataPolicy::parse(*v);
  if (!p.is_ok())
    return Status::error(EUCLEAN, "inode " + std::to_string(ino) + ": " + p.status().message());
  return p;
}

void InodeStore::put_policy(rocksdb::WriteBatch* b, uint64_t ino, const DataPolicy& policy) const {
  const std::string key = KeyCodec::xattr_key(ino, kPolicyKey);
  if (policy.is_default()) {
    b->Delete(m_meta.handle(Cf::kXattrs), key);
  } else {
    b->Put(m_meta.handle(Cf::kXattrs), key, policy.to_string());
  }
}

Status InodeStore::inherit_policy(rocksdb::WriteBatch* b, uint64_t parent,
                                  const InodeRecord& rec) const {
  if (!rec.is_dir() && !rec.is_reg()) return Status::ok();
  DFS_ASSIGN_OR_RETURN(auto v, m_meta.get(Cf::kXattrs, KeyCodec::xattr_key(parent, kPolicyKey)));
  if (v.has_value())
    b->Put(m_meta.handle(Cf::kXattrs), KeyCodec::xattr_key(rec.ino, kPolicyKey), *v);
  return Status::ok();
}

void InodeStore::set_next_ino(uint64_t next) {
  m_next_ino = next;
  m_ino_reserved = next;
}

Result<uint64_t> InodeStore::allocate_ino() {
  uint64_t ino = m_next_ino.fetch_add(1);
  if (ino < m_ino_reserved.load()) return ino;
  std::lock_guard lk(m_ino_mutex);
  while (ino >= m_ino_reserved.load()) {
    // Persist a new bound before any inode numbered from it can be
    // committed, so a crash never hands the same number out twice.
    uint64_t bound = std::max(m_ino_reserved.load(), ino + 1) + kInoBatch;
    rocksdb::WriteBatch reserve;
    std::string v;
    put_le<uint64_t>(&v, bound);
    reserve.Put(m_meta.handle(Cf::kVolume), KeyCodec::kNextIno, v);
    DFS_RETURN_IF_ERROR(m_commit.apply(&reserve));
    m_ino_reserved = bound;
  }
  return ino;
}

}  // namespace dynamicfs

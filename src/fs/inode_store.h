// InodeStore: the volume's inodes, directory entries, extent maps and data
// policies as the metadata store keeps them. Every part of the file system reads them and
// stages changes to them through here instead of composing keys itself; it
// also hands out inode numbers and counts the inodes in use.
//
// It takes no locks: callers hold the ones their operation needs (see
// ExtentLockManager) and commit the batches they staged. The one commit it
// makes itself is the persisted bound of inode numbers (allocate_ino).
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metadata/extent_record.h"
#include "metadata/group_commit_coordinator.h"
#include "metadata/inode_record.h"
#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/extent/extent_map_cache.h"
#include "src/fs/data_policy.h"

namespace dynamicfs {

class InodeStore {
 public:
  // A file's extents in file order: (file offset, record).
  using ExtentList = std::vector<std::pair<uint64_t, ExtentRecord>>;
  // What holds the block at one file offset: a hole or (part of) an extent.
  struct BlockRef {
    bool hole = true;
    ExtentRecord ext;  // the whole extent holding the block
    uint64_t ext_file_off = 0;
    bool same_as(const BlockRef& o) const;
  };
  // A directory entry's target: inode number and file type (S_IFMT bits).
  using Dentry = std::pair<uint64_t, uint32_t>;

  // EXTENT_MAP_BUDGET: memory for files' extent maps (encoded records).
  InodeStore(MetaStore& meta, GroupCommitCoordinator& commit, uint64_t extent_map_budget);
  InodeStore(const InodeStore&) = delete;
  InodeStore& operator=(const InodeStore&) = delete;

  // Keeps the extent maps in memory in step with a batch just written (the
  // group committer's after-write hook).
  void apply_committed(const rocksdb::WriteBatch& b) { m_extent_maps.apply(b); }

  // Inodes. ENOENT when INO has no record.
  Result<InodeRecord> load(uint64_t ino) const;
  // Loads each inode of INOS once into OUT (keys already there are kept).
  Status load_many(const std::vector<uint64_t>& inos, std::map<uint64_t, InodeRecord>* out) const;
  void put(rocksdb::WriteBatch* b, const InodeRecord& rec) const;

  // Directory entries.
  Result<std::optional<Dentry>> dentry(uint64_t parent, std::string_view name) const;
  void put_dentry(rocksdb::WriteBatch* b, uint64_t parent, std::string_view name, uint64_t ino,
                  uint32_t type) const;
  void delete_dentry(rocksdb::WriteBatch* b, uint64_t parent, std::string_view name) const;
  Result<bool> dir_is_empty(uint64_t ino) const;

  // Extent maps. The records of INO that overlap [start, end), from the map
  // in memory (loaded on first use).
  Result<ExtentList> extents_in(uint64_t ino, uint64_t start, uint64_t end) const;
  // The extent (or hole) holding the block at BLOCK_OFF.
  Result<BlockRef> block_ref(uint64_t ino, uint64_t block_off) const;
  // Every extent record of INO as stored (key, value), for passes that
  // rewrite records one by one and check each is still live.
  Result<std::vector<std::pair<std::string, std::string>>> raw_extents(uint64_t ino) const;

  // Data policies: a hidden xattr of files and directories (none: the
  // default policy).
  Result<DataPolicy> data_policy(uint64_t ino) const;
  void put_policy(rocksdb::WriteBatch* b, uint64_t ino, const DataPolicy& policy) const;
  // A new node REC takes its directory's policy (files and directories).
  Status inherit_policy(rocksdb::WriteBatch* b, uint64_t parent, const InodeRecord& rec) const;

  // Inode numbers: from an atomic counter; only crossing the persisted bound
  // (every kInoBatch numbers) takes a mutex and commits the new bound.
  static constexpr uint64_t kInoBatch = 4096;
  // At mount: the first number to hand out (the persisted bound).
  void set_next_ino(uint64_t next);
  Result<uint64_t> allocate_ino();

  // Inodes in use (statfs, the clean-unmount checkpoint).
  uint64_t inode_count() const { return m_inode_count.load(); }
  void set_inode_count(uint64_t n) { m_inode_count.store(n); }
  void add_inodes(int64_t delta) { m_inode_count.fetch_add(static_cast<uint64_t>(delta)); }

 private:
  MetaStore& m_meta;
  GroupCommitCoordinator& m_commit;
  mutable ExtentMapCache m_extent_maps;
  std::mutex m_ino_mutex;
  std::atomic<uint64_t> m_next_ino{0};
  std::atomic<uint64_t> m_ino_reserved{0};  // persisted next_ino (exclusive bound)
  std::atomic<uint64_t> m_inode_count{0};
};

}  // namespace dynamicfs

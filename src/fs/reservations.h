// Reservations: what fallocate promises. Data is copy-on-write, so space
// cannot be handed out ahead of the write; instead fallocate reserves pool
// space for the holes of the range, and the allocator keeps that much free
// for the file (Allocator::reserve). The inode record keeps the ranges
// fallocate covered and how many of their bytes are still holes (the
// invariant every data path keeps: reserved_bytes = bytes of reserve_ranges
// no extent covers); an index key per reserving file in the volume family
// lets mount add the reservations up without a scan.
#pragma once

#include <rocksdb/write_batch.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "metadata/group_commit_coordinator.h"
#include "metadata/inode_record.h"
#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/extent/allocator.h"
#include "src/extent/extent_lock_manager.h"
#include "src/fs/inode_store.h"

namespace dynamicfs {

class Reservations {
 public:
  using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // (offset, length)

  Reservations(MetaStore& meta, InodeStore& inodes, Allocator& alloc,
               GroupCommitCoordinator& commit, ExtentLockManager& locks)
      : m_meta(meta), m_inodes(inodes), m_alloc(alloc), m_commit(commit), m_locks(locks) {}

  // fallocate: reserves the holes of [a, b) (block aligned) for INO, in a
  // commit of its own under the file's lock. COPIES: copies of each byte
  // the file's policy writes (used when the file holds no reservation yet).
  Status reserve(uint64_t ino, uint64_t a, uint64_t b, uint32_t copies);
  // Into batch B, for a change about to place data in [a, b) (cut = false)
  // or to drop it (punch, truncate: cut = true, the range is no longer
  // reserved): REC loses the reservation of the holes there. Returns the
  // pool bytes to unreserve once B is committed.
  Result<uint64_t> release(rocksdb::WriteBatch* b, InodeRecord* rec, uint64_t a, uint64_t e,
                           bool cut);
  // release(cut) of [a, b) in a commit of its own.
  Status drop(uint64_t ino, uint64_t a, uint64_t b);
  // A deleted file's reservation: its index key goes in B and the pool
  // bytes are given back at once.
  void forget(rocksdb::WriteBatch* b, const InodeRecord& rec);
  // At mount: the pool bytes all files hold reserved.
  Result<uint64_t> load_total() const;

 private:
  // Bytes of [a, b) inside WITHIN (all of [a, b) when null) that no extent
  // covers.
  Result<uint64_t> hole_bytes(uint64_t ino, uint64_t a, uint64_t b, const Ranges* within) const;
  // REC's index key, in B (deleted when REC holds nothing).
  void put_index(rocksdb::WriteBatch* b, const InodeRecord& rec) const;

  MetaStore& m_meta;
  InodeStore& m_inodes;
  Allocator& m_alloc;
  GroupCommitCoordinator& m_commit;
  ExtentLockManager& m_locks;
};

}  // namespace dynamicfs

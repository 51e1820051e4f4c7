// FileData: the bytes of regular files — read, write, truncate, holes
// (fallocate, punch, SEEK_DATA/SEEK_HOLE) and copy_file_range — and the
// fresh extents every data change writes.
//
// Data is copy-on-write: a change reads its partial edge blocks and writes
// fresh extents with no exclusive lock, then commits under the file's range
// lock only if the edges are unchanged (run_cow / commit_cow: the one
// protocol write, truncate, punch and shared copies use). Reads take a
// snapshot of the extent map under a shared lock, do their disk I/O with
// no lock held, and retry if the file's generation moved. Space a commit
// unreferences goes back through release_space once no reader can see it.
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "metadata/extent_record.h"
#include "metadata/group_commit_coordinator.h"
#include "metadata/inode_record.h"
#include "src/common/result.h"
#include "src/extent/allocator.h"
#include "src/extent/block_buffer.h"
#include "src/extent/extent_lock_manager.h"
#include "src/extent/pending_space.h"
#include "src/extent/reader_tracker.h"
#include "src/extent/replica_io.h"
#include "src/extent/shared_extents.h"
#include "src/extent/volume.h"
#include "src/fs/data_policy.h"
#include "src/fs/inode_store.h"
#include "src/fs/namespace.h"
#include "src/fs/reservations.h"
#include "src/fs/tiering.h"

namespace dynamicfs {

class FileData {
 public:
  static constexpr uint64_t kBlock = block_buffer::kBlock;
  static constexpr uint64_t kMaxFileSize = 1ull << 50;
  // Optimistic read/write attempts that may lose a race before EAGAIN.
  static constexpr int kMaxRetries = 1000;
  // Disk space of each copy of a piece of data.
  using Placement = Tiering::Placement;
  // A sync round of the whole volume: what makes recently freed space
  // usable again when the pool is out of it (FileSystem::sync_all).
  using SyncAll = std::function<Status()>;

  FileData(Volume& volume, Allocator& alloc, GroupCommitCoordinator& commit,
           ExtentLockManager& locks, ReaderTracker& readers, ReplicaIo& replicas,
           SharedExtents& shared, InodeStore& inodes, Reservations& reservations, Tiering& tiering,
           Namespace& names, SyncAll sync_all, uint32_t journal_max_bytes);

  Result<size_t> read(uint64_t ino, uint64_t offset, size_t size, char* buf);
  Result<size_t> write(uint64_t ino, uint64_t offset, const char* data, size_t size);
  // Sets the size: copy-on-write of the boundary block, then one commit.
  Status truncate(uint64_t ino, uint64_t new_size, InodeRecord* out);
  // See FileSystem::fallocate, seek_data_or_hole and copy_range.
  Status fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length);
  Result<uint64_t> seek_data_or_hole(uint64_t ino, uint64_t offset, int whence);
  Result<size_t> copy_range(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                            size_t length);
  // The extents of a file in file order (none for other inodes).
  Result<InodeStore::ExtentList> extent_map(uint64_t ino) const;

  // Largest write whose data rides in the WAL (live; 0 = none).
  void set_journal_max_bytes(uint32_t bytes) { m_journal_max.store(bytes); }
  uint32_t journal_max_bytes() const { return m_journal_max.load(); }

  // Writes `data` as fresh extents laid out as `policy` says (stripes or
  // copies); `space` gets all the disk space they took. A disk that fails
  // meanwhile is left out and the write placed again on the others.
  // `may_use_reserved`: pool bytes the file has reserved (fallocate), which
  // its own writes may take. `journal`: the replicated pieces' data also
  // goes into this batch (JournalBlob), which the caller must commit with
  // the records; their disk writes then hold back no sync round.
  Status write_new_extents(const char* data, uint64_t length, uint64_t generation,
                           std::vector<ExtentRecord>* out, std::vector<DiskRange>* space,
                           const DataPolicy& policy, IoClass cls = IoClass::kWrite,
                           uint64_t may_use_reserved = 0, rocksdb::WriteBatch* journal = nullptr);
  // Space whose reference an applied commit removed: what no other extent
  // shares goes back to the allocator once no reader can still see it.
  void release_space(const std::vector<DiskRange>& freed);
  // Generation tag of fresh extents (unique per write).
  static uint64_t next_write_seq();
  // Runs ALLOCATE; when the pool is out of space, makes recently freed
  // space usable (a durable commit releases deferred frees, finished
  // discards give claimed space back) and runs it once more.
  template <class T>
  Result<T> allocate_or_recycle(const std::function<Result<T>()>& allocate) {
    auto r = allocate();
    if (r.is_ok() || r.err() != ENOSPC) return r;
    DFS_RETURN_IF_ERROR(m_sync_all());
    m_alloc.wait_for_claims(std::chrono::seconds(10));
    return allocate();
  }

 private:
  using BlockRef = InodeStore::BlockRef;
  Status read_block(const BlockRef& ref, uint64_t block_off, char* out, uint64_t ino,
                    const ReaderTracker::Pin& pin);
  // One stripe of `data` (one record's worth at most); false when the pool
  // has too few writable disks or no contiguous room for the units.
  Result<bool> write_stripe(const char* data, uint64_t length, const EcScheme& scheme,
                            uint64_t generation, std::vector<ExtentRecord>* out,
                            std::vector<DiskRange>* space, IoClass cls);
  // Replaces [start, end) of the extent map by `fresh` (empty = punch).
  // `shares` gets the stripes a cut leaves with one more window (pass them
  // to commit_sharing).
  Status remap(rocksdb::WriteBatch* b, uint64_t ino, uint64_t start, uint64_t end,
               const std::vector<ExtentRecord>& fresh, uint64_t fresh_file_off,
               std::vector<DiskRange>* freed, int64_t* alloc_delta, std::vector<DiskRange>* shares);
  // Commits `b`, with one more reference to each of `shares` if it applies.
  Status commit_sharing(rocksdb::WriteBatch* b, const std::vector<DiskRange>& shares);

  // Copy-on-write changes (file_data_cow.cc).
  struct CowEdge {
    uint64_t offset = 0;
    BlockRef ref;  // the block as the change read it
  };
  struct CowChange {
    explicit CowChange(Allocator& alloc) : fresh(alloc) {}
    std::vector<CowEdge> edges;
    PendingSpace fresh;  // the fresh extents' space: freed unless committed
    rocksdb::WriteBatch batch;
    std::vector<DiskRange> freed, shares;  // see remap
    int64_t alloc_delta = 0;
  };
  enum class CowStep { kCommitted, kRetry };
  // Runs ATTEMPT (given its number) until it commits or fails; EAGAIN after
  // kMaxRetries retries, naming WHAT.
  Status run_cow(const char* what, uint64_t ino,
                 const std::function<Result<CowStep>(int)>& attempt);
  // What a failed edge read means on attempt ATTEMPT: retry, or the error.
  static Result<CowStep> retry_edge_read(const Status& st, int attempt);
  // Under a shared lock: the block at OFFSET becomes an edge of C.
  Status add_edge(uint64_t ino, uint64_t offset, CowChange* c) const;
  // Under the exclusive lock: whether every edge of C is as it was read.
  bool edges_unchanged(uint64_t ino, const CowChange& c) const;
  // The reservation a change gives back: [begin, end) (empty: none); `cut`:
  // the range is no longer reserved (see Reservations::release).
  struct ReserveRelease {
    uint64_t begin = 0, end = 0;
    bool cut = false;
  };
  // Ends C under the exclusive GUARD: REC's allocation, times, generation
  // and reservation updated in C's batch, which commits with C's shares
  // (after CRASH_AT, if any); then the guard goes and the freed space is
  // released.
  Status commit_cow(InodeRecord* rec, CowChange* c, ExtentLockManager::Guard* guard,
                    const ReserveRelease& reserve, const char* crash_at = nullptr);

  // Space for min(copies, writable disks) copies of `length` bytes on
  // distinct writable disks (see Allocator::allocate_copies).
  Result<Placement> allocate_space(uint64_t length, size_t copies, uint64_t may_use_reserved = 0);

  Status punch_hole(uint64_t ino, uint64_t offset, uint64_t length);
  // copy_range helpers (file_data_copy.cc).
  Result<size_t> copy_bytes(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                            size_t length);
  Result<uint64_t> share_blocks(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                                uint64_t length);

  Volume& m_volume;
  Allocator& m_alloc;
  GroupCommitCoordinator& m_commit;
  ExtentLockManager& m_locks;
  ReaderTracker& m_readers;
  ReplicaIo& m_replicas;
  SharedExtents& m_shared;
  InodeStore& m_inodes;
  Reservations& m_reservations;
  Tiering& m_tiering;
  Namespace& m_namespace;
  const SyncAll m_sync_all;
  const bool m_read_only;
  std::atomic<uint32_t> m_journal_max;
};

}  // namespace dynamicfs

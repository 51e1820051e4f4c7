// DataPlacement: where a volume's data lives and how it moves — data
// policies (replicated or erasure coded, per file and directory) and the
// converter that lays existing files out anew; `disk add` and `disk
// remove` and the rebalance both run; and the copy moves tiering uses too.
//
// Every move works like a write: new copies or stripes are written with no
// lock held (the data read and verified from a good copy, under a reader
// pin, at Background priority), then the file's range lock is taken, the
// record is checked to be unchanged, and one batch swaps it in; the old
// space is released like overwritten space. Data never changes, so readers
// need no retry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "metadata/extent_record.h"
#include "metadata/group_commit_coordinator.h"
#include "src/common/result.h"
#include "src/extent/allocator.h"
#include "src/extent/extent_lock_manager.h"
#include "src/extent/pending_space.h"
#include "src/extent/reader_tracker.h"
#include "src/extent/replica_io.h"
#include "src/extent/volume.h"
#include "src/fs/data_policy.h"
#include "src/fs/file_data.h"
#include "src/fs/fs_types.h"
#include "src/fs/inode_store.h"
#include "src/fs/namespace.h"
#include "src/fs/tiering.h"
#include "src/io/background_scheduler.h"
#include "src/io/job_queue.h"

namespace dynamicfs {

class DataPlacement {
 public:
  // A sync round of the whole volume (FileSystem::sync_all).
  using SyncAll = std::function<Status()>;

  DataPlacement(Volume& volume, Allocator& alloc, GroupCommitCoordinator& commit,
                ExtentLockManager& locks, ReaderTracker& readers, ReplicaIo& replicas,
                InodeStore& inodes, FileData& data, Namespace& names, Tiering& tiering,
                BackgroundScheduler& jobs, SyncAll sync_all);

  // Data policies (data_placement_policy.cc). Sets INO's policy, and for a
  // directory that of everything below it, and queues the files for the
  // converter.
  Result<PolicyChange> set_policy(uint64_t ino, const DataPolicy& policy);
  ConvertStats convert_stats() const;
  // Starts the converter job (a writable mount); at unmount, files still
  // queued keep their layout until their policy is set again.
  void start_convert_job();
  // Waits until the converter's queue is empty (tests).
  void drain_conversions() { m_convert_queue.drain(); }

  // Disk administration (data_placement_disks.cc), one operation at a time
  // (EBUSY). add_disk grows the pool (its I/O queue with IO_WORKERS
  // workers), then restores the copy count of extents that lost copies to
  // failed disks. remove_disk refuses when the other disks cannot hold the
  // copies, else moves every copy off the disk and takes it out.
  Result<uint32_t> add_disk(const std::string& path, uint64_t create_size, bool force,
                            unsigned io_workers);
  Status remove_disk(uint32_t disk);
  RebalanceStatus rebalance_status() const;
  // Makes a running add/remove stop at its next extent (shutdown).
  void cancel_rebalance() { m_rebalance_cancel = true; }

  // Rewrites the live record `value` of `e` with copies `keep` plus `add`
  // new ones on `allowed` disks (written at Background priority from a
  // verified read), and releases `dropped`; nothing happens if the record
  // changed meanwhile.
  Status replace_copies(std::string_view key, std::string_view value, const ExtentRecord& e,
                        const std::vector<ExtentCopy>& keep, const std::vector<DiskRange>& dropped,
                        size_t add, DiskMask allowed);

 private:
  // Whether `e` is laid out as `policy` asks (with the disks there are).
  bool extent_matches(const ExtentRecord& e, const DataPolicy& policy) const;
  // Rewrites the live record `value` of `e` as `policy` lays data out, at
  // Background priority; nothing happens if the record changed meanwhile.
  Status rewrite_extent(std::string_view key, std::string_view value, const ExtentRecord& e,
                        const DataPolicy& policy);
  Status convert_file(uint64_t ino);
  void run_conversions();
  // `wanted`: the copies the file's policy asks for (replicated extents).
  bool extent_needs_work(const ExtentRecord& e, size_t wanted) const;
  // Passes over the extent map until no extent needs work (or `limit`).
  Status rebalance_all(int limit);
  Status relocate_extent(std::string_view key, std::string_view value, const ExtentRecord& e,
                         const DataPolicy& policy);
  // The swap of replace_copies and rewrite_extent: under the range lock,
  // if `value` is still the live record under `key` (false if not), puts
  // `pieces` in its place in one commit and keeps `space`. EAGAIN if a
  // piece has data on a disk that is no longer online, other than `kept`
  // ones (copies the record already had there).
  Result<bool> swap_extent(std::string_view key, std::string_view value, uint32_t length,
                           const std::vector<ExtentRecord>& pieces, DiskMask kept,
                           PendingSpace* space);
  Result<uint64_t> extents_on(uint32_t disk) const;

  Volume& m_volume;
  Allocator& m_alloc;
  GroupCommitCoordinator& m_commit;
  ExtentLockManager& m_locks;
  ReaderTracker& m_readers;
  ReplicaIo& m_replicas;
  InodeStore& m_inodes;
  FileData& m_data;
  Namespace& m_namespace;
  Tiering& m_tiering;
  BackgroundScheduler& m_jobs;
  const SyncAll m_sync_all;

  std::mutex m_admin_mutex;  // one disk add/remove at a time
  std::atomic<bool> m_rebalance_cancel{false};
  mutable std::mutex m_rebalance_mutex;
  RebalanceStatus m_rebalance;
  std::atomic<uint64_t> m_rebalance_done{0};

  // The converter: files whose extents to lay out anew.
  JobQueue<uint64_t> m_convert_queue;
  BackgroundScheduler::JobId m_convert_job = BackgroundScheduler::kNoJob;
  std::atomic<uint64_t> m_converted_extents{0}, m_converted_bytes{0};
};

}  // namespace dynamicfs

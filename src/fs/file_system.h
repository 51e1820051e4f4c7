// FileSystem: a mounted volume, the facade the FUSE layer and the CLI use.
// Every operation is expressed in inode numbers and returns errors as values
// with real errno codes, so the layer above only translates. The work is
// done by parts, each with its own header saying why it exists:
//
//   InodeStore     inodes, directory entries, extent maps, policies, numbering
//   Namespace      the POSIX tree, xattrs and ACLs, access times, orphans
//   FileData       read, write, truncate, holes, copies (copy-on-write)
//   Reservations   what fallocate promises
//   VolumeSync     durability: data disks, then the metadata WAL
//   Snapshots      create, delete, list; released space in the background
//   DataPlacement  policies and the converter, disk add/remove, rebalance
//   Tiering        ssd placement of new data and the migration pass
//   Discarder      discard of freed space
//   BackgroundScheduler  the one set of named jobs all of them run on
//
// What stays here: putting the parts together, mount-time recovery, the
// clean-unmount checkpoint, fsync and sync rounds, statfs and statistics.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "metadata/extent_record.h"
#include "metadata/group_commit_coordinator.h"
#include "metadata/inode_record.h"
#include "src/extent/allocator.h"
#include "src/extent/block_buffer.h"
#include "src/extent/extent_lock_manager.h"
#include "src/extent/extent_map_cache.h"
#include "src/extent/pending_space.h"
#include "src/extent/reader_tracker.h"
#include "src/extent/replica_io.h"
#include "src/extent/shared_extents.h"
#include "src/extent/volume.h"
#include "src/fs/data_placement.h"
#include "src/fs/data_policy.h"
#include "src/fs/discarder.h"
#include "src/fs/file_data.h"
#include "src/fs/fs_types.h"
#include "src/fs/inode_store.h"
#include "src/fs/namespace.h"
#include "src/fs/open_file_table.h"
#include "src/fs/reservations.h"
#include "src/fs/snapshots.h"
#include "src/fs/tiering.h"
#include "src/fs/volume_sync.h"
#include "src/io/background_scheduler.h"
#include "src/io/job_queue.h"

namespace dynamicfs {

class FileSystem {
 public:
  static constexpr uint64_t kRootIno = ::dynamicfs::kRootIno;
  static constexpr size_t kNameMax = Namespace::kNameMax;
  static constexpr uint64_t kMaxFileSize = FileData::kMaxFileSize;
  static constexpr uint64_t kBlock = block_buffer::kBlock;

  // Mounts the metadata: crash recovery (orphans, free space) happens here.
  static Result<std::unique_ptr<FileSystem>> open(std::unique_ptr<Volume> volume,
                                                  FsOptions opts = {});

  // Live settings: take effect at once, from any thread.
  void set_commit_settings(const GroupCommitSettings& s);
  GroupCommitSettings commit_settings() const { return m_commit->settings(); }
  void set_sync_interval_ms(unsigned ms);
  unsigned sync_interval_ms() const { return m_sync_interval_ms.load(); }
  // Per-disk I/O workers (0 = from the device type).
  void set_io_workers(unsigned workers);
  unsigned io_workers() const { return m_io_workers.load(); }
  const GroupCommitCoordinator& commit() const { return *m_commit; }
  // Largest write whose data rides in the WAL (live; 0 = none).
  void set_journal_max_bytes(uint32_t bytes) { m_data->set_journal_max_bytes(bytes); }
  uint32_t journal_max_bytes() const { return m_data->journal_max_bytes(); }
  // Automatic discard of freed space (live).
  void set_discard(bool on);
  bool discard_enabled() const { return m_discarder && m_discarder->enabled(); }
  // Extent cache size in bytes (live; 0 turns it off).
  void set_extent_cache_bytes(uint64_t bytes) { m_cache.set_capacity(bytes); }
  ExtentCacheStats extent_cache_stats() const { return m_cache.stats(); }
  // Tiering (tiering.h). Settings are live.
  void set_tier_settings(const TierSettings& t);
  TierSettings tier_settings() const { return m_tiering->settings(); }
  TierStats tier_stats() const { return m_tiering->stats(); }
  // The extents of a file in file order (`dynamicfs locate`).
  Result<InodeStore::ExtentList> extent_map(uint64_t ino) const { return m_data->extent_map(ino); }
  // Data policies (data_placement.h). set_policy sets INO's policy, and for a
  // directory that of everything below it, and queues the files for the
  // background converter. data_policy is what new data of INO gets.
  Result<PolicyChange> set_policy(uint64_t ino, const DataPolicy& policy) {
    return m_placement->set_policy(ino, policy);
  }
  Result<DataPolicy> data_policy(uint64_t ino) const { return m_inodes->data_policy(ino); }
  ConvertStats convert_stats() const { return m_placement->convert_stats(); }
  // fstrim(8): discards all free space of at least min_len bytes now.
  Result<TrimResult> trim(uint64_t min_len);
  ~FileSystem();
  // Makes everything durable and writes the clean-unmount checkpoint.
  Status shutdown();

  // Namespace (namespace.h).
  Result<InodeRecord> lookup(uint64_t parent, std::string_view name) {
    return m_namespace->lookup(parent, name);
  }
  Result<InodeRecord> getattr(uint64_t ino) { return m_namespace->getattr(ino); }
  // A size change is the file data's (truncate); the rest the namespace's.
  Result<InodeRecord> setattr(uint64_t ino, const SetAttr& attr, const Caller& caller);
  Result<InodeRecord> mknod(uint64_t parent, std::string_view name, uint32_t mode, uint64_t rdev,
                            const Caller& c) {
    return m_namespace->mknod(parent, name, mode, rdev, c);
  }
  Result<InodeRecord> mkdir(uint64_t parent, std::string_view name, uint32_t mode,
                            const Caller& c) {
    return m_namespace->mkdir(parent, name, mode, c);
  }
  Result<InodeRecord> symlink(uint64_t parent, std::string_view name, std::string_view target,
                              const Caller& c) {
    return m_namespace->symlink(parent, name, target, c);
  }
  Result<std::string> readlink(uint64_t ino) { return m_namespace->readlink(ino); }
  Result<InodeRecord> link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
    return m_namespace->link(ino, new_parent, new_name);
  }
  Status unlink(uint64_t parent, std::string_view name) {
    return m_namespace->unlink(parent, name);
  }
  Status rmdir(uint64_t parent, std::string_view name) { return m_namespace->rmdir(parent, name); }
  Status rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags) {
    return m_namespace->rename(parent, name, new_parent, new_name, flags);
  }
  Result<std::vector<DirEntry>> list_dir(uint64_t ino) { return m_namespace->list_dir(ino); }
  Status access(uint64_t ino, int mask, const Caller& caller) {
    return m_namespace->access(ino, mask, caller);
  }

  // Files.
  // Registers an open handle; O_TRUNC (sent by the kernel with atomic
  // O_TRUNC) truncates a regular file to zero as part of the open.
  Status open_file(uint64_t ino, int flags);
  // Opens a directory (ENOTDIR otherwise) for one handle, which lists it
  // with list_dir; release with release_file. An open directory stays
  // readable (nlink 0) after rmdir.
  Status open_dir(uint64_t ino) { return m_namespace->open_dir(ino); }
  Status release_file(uint64_t ino) { return m_namespace->close(ino); }
  Result<size_t> read(uint64_t ino, uint64_t offset, size_t size, char* buf) {
    return m_data->read(ino, offset, size, buf);
  }
  // lseek SEEK_DATA / SEEK_HOLE from the extent map: ENXIO at or past the
  // end of the file; the end of the file counts as a hole.
  Result<uint64_t> seek_data_or_hole(uint64_t ino, uint64_t offset, int whence) {
    return m_data->seek_data_or_hole(ino, offset, whence);
  }
  // fallocate(2): mode 0 and FALLOC_FL_KEEP_SIZE check that the pool can hold
  // the range and extend the size (copy-on-write space is taken at write
  // time); PUNCH_HOLE|KEEP_SIZE frees the range's blocks and zeroes partial
  // edges; ZERO_RANGE punches and extends. Other modes: EOPNOTSUPP.
  Status fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
    return m_data->fallocate(ino, mode, offset, length);
  }
  Result<size_t> write(uint64_t ino, uint64_t offset, const char* data, size_t size) {
    return m_data->write(ino, offset, data, size);
  }
  // copy_file_range(2): whole blocks are shared with the source (reference
  // counted; later writes to either file go elsewhere, as every write does),
  // partial edge blocks and ranges whose offsets differ within a block are
  // copied. Returns the bytes copied, 0 at or past the source's end; may copy
  // less than asked (callers loop, as for write).
  Result<size_t> copy_range(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                            size_t length) {
    return m_data->copy_range(src, src_off, dst, dst_off, length);
  }
  Status fsync(uint64_t ino, bool datasync);
  Status sync_all();

  // Extended attributes.
  // CALLER matters for ACL names only: an ACL that changes the mode drops
  // setgid for a caller outside the file's group (posix_acl_update_mode()).
  Status setxattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                  const Caller& caller = Caller{}) {
    return m_namespace->setxattr(ino, name, value, flags, caller);
  }
  Result<std::string> getxattr(uint64_t ino, std::string_view name) {
    return m_namespace->getxattr(ino, name);
  }
  Result<std::vector<std::string>> listxattr(uint64_t ino) { return m_namespace->listxattr(ino); }
  Status removexattr(uint64_t ino, std::string_view name) {
    return m_namespace->removexattr(ino, name);
  }

  // Tests only (disks with a FaultPlan): a power cut. With metadata commits
  // and WAL flushes held back, every disk undoes a seeded random subset of
  // its unsynced writes; then `die` runs, still holding them back (it is
  // expected to end the process, as a power cut would).
  void power_cut(uint64_t seed, const std::function<void(size_t undone, const Status&)>& die);

  // Disk administration (data_placement.h), one operation at a time (EBUSY).
  // add_disk grows the pool, then restores the copy count of extents that
  // lost copies to failed disks. remove_disk refuses when the other disks
  // cannot hold the copies, else moves every copy off the disk at
  // Background priority and takes it out of the volume.
  Result<uint32_t> add_disk(const std::string& path, uint64_t create_size, bool force) {
    return m_placement->add_disk(path, create_size, force, m_io_workers.load());
  }
  Status remove_disk(uint32_t disk) { return m_placement->remove_disk(disk); }
  RebalanceStatus rebalance_status() const { return m_placement->rebalance_status(); }
  // Makes a running add/remove stop at its next extent (shutdown).
  void cancel_rebalance() { m_placement->cancel_rebalance(); }

  // Snapshots (snapshots.h). create_snapshot captures every file as of
  // one point of the commit order: commits wait while the metadata is
  // checkpointed (one memtable flush) and its extents gain a reference, so
  // later writes never touch its space. delete_snapshot takes it out at
  // once (EBUSY while mounted or seeded) and gives back what only it held
  // in the background. EROFS on a read-only (snapshot) mount.
  Result<SnapshotInfo> create_snapshot(const std::string& name);
  Status delete_snapshot(const std::string& name);
  Result<std::vector<SnapshotUsage>> list_snapshots() const;
  // Waits until deleted snapshots' space has been released (tests, shutdown).
  void drain_snapshot_deletes() { m_snapshots->drain_deletes(); }
  size_t snapshot_deletes_pending() const { return m_snapshots->deletes_pending(); }
  bool read_only() const { return m_read_only; }
  // Access times (live: mount -o remount changes them). A mount remounted
  // read-only updates no access time; the kernel refuses everything else.
  void set_atime_policy(AtimePolicy p) { m_namespace->set_atime_policy(p); }
  AtimePolicy atime_policy() const { return m_namespace->atime_policy(); }
  void set_mount_read_only(bool ro) { m_namespace->set_mount_read_only(ro); }
  bool mount_read_only() const { return m_namespace->mount_read_only(); }
  // Whether a read of REC now would update its access time under the policy
  // (relatime: atime not newer than mtime or ctime, or a day old).
  bool atime_due(const InodeRecord& rec) const { return m_namespace->atime_due(rec); }

  struct statvfs statfs() const;
  FsStats stats() const;
  // Scrub of one extent: if `value` is still the live record under `key`,
  // reads and verifies every copy and repairs bad ones from a good one.
  // `live` is false when the record has changed since (nothing was read).
  Result<CopyCheck> scrub_extent(std::string_view key, std::string_view value, IoClass cls,
                                 bool* live);
  Volume& volume() { return *m_volume; }

  // Tests only (LevelDB's TEST_ convention): hooks into background work.
  // Runs before each metadata WAL sync (a slow WAL, held by a test).
  void TEST_set_wal_sync_hook(std::function<void()> hook) {
    m_commit->set_before_sync_hook(std::move(hook));
  }
  // One pass of the tiering migration now.
  Status TEST_run_tier_pass() { return m_tiering->run_pass(); }
  // Waits until the converter's queue is empty.
  void TEST_drain_conversions() { m_placement->drain_conversions(); }
  // Waits for repairs queued by reads to be written.
  void TEST_drain_repairs() { m_replicas->drain_repairs(); }

 private:
  explicit FileSystem(std::unique_ptr<Volume> volume, FsOptions opts);
  Status recover();
  Status rebuild_free_space(bool with_snapshots);
  // Background jobs (one scheduler, m_jobs): tiering, conversion, deleted
  // snapshots' space, the periodic sync; started by open().
  void start_background_jobs();
  Status load_checkpoint(bool* loaded);

  // Space whose reference an applied commit removed (FileData).
  void release_space(const std::vector<DiskRange>& freed) { m_data->release_space(freed); }
  Status sync_metadata();
  Status sync_data_disks();
  std::unique_ptr<Volume> m_volume;
  const bool m_read_only;
  // Copies of the live settings read on hot paths.
  std::atomic<bool> m_commit_enabled;
  std::atomic<uint32_t> m_commit_delay_us;
  std::atomic<unsigned> m_sync_interval_ms;
  std::atomic<unsigned> m_io_workers;
  std::unique_ptr<Allocator> m_alloc;
  std::unique_ptr<GroupCommitCoordinator> m_commit;
  ExtentLockManager m_locks;
  ReaderTracker m_readers;
  // Before everything its jobs use (ReplicaIo's repairs, the Discarder);
  // stopped by shutdown() and the destructor before they go.
  BackgroundScheduler m_jobs;
  BackgroundScheduler::JobId m_tier_job = BackgroundScheduler::kNoJob;
  BackgroundScheduler::JobId m_sync_job = BackgroundScheduler::kNoJob;
  ExtentCache m_cache;  // before m_replicas, which reads through it
  // Inodes, entries and extent maps, and inode numbers.
  std::unique_ptr<InodeStore> m_inodes;
  std::unique_ptr<Reservations> m_reservations;  // fallocate
  std::unique_ptr<ReplicaIo> m_replicas;         // after m_readers: its repairs hold pins
  SharedExtents m_shared;
  std::unique_ptr<Discarder> m_discarder;  // none on a read-only mount

  OpenFileTable m_open;  // handles per inode
  // Memory for files' extent maps (encoded records): about 200,000 extents.
  static constexpr uint64_t kExtentMapBudget = 64ull << 20;

  std::unique_ptr<VolumeSync> m_sync;  // data, then the WAL, nothing held across a sync
  CoalescedSync m_sync_round;
  std::atomic<uint64_t> m_solo_sync_rounds{0};  // rounds run with group commit off
  std::atomic<uint64_t> m_fsync_requests{0};  // one data+metadata sync round for concurrent fsyncs

  // The parts built on the above (file_system.h's first lines).
  std::unique_ptr<Tiering> m_tiering;
  std::unique_ptr<Namespace> m_namespace;
  std::unique_ptr<FileData> m_data;
  std::unique_ptr<DataPlacement> m_placement;
  std::unique_ptr<Snapshots> m_snapshots;

  bool m_shut_down = false;
  bool m_recovered = false;  // recover() succeeded: shutdown may write the checkpoint
};

}  // namespace dynamicfs

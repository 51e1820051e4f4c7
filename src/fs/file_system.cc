// FileSystem: the parts put together (see file_system.h), mount-time
// recovery, the clean-unmount checkpoint, durability (data disks, then the
// metadata WAL), statfs and statistics.
#include "src/fs/file_system.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/extent/space_checkpoint.h"

namespace dynamicfs {

namespace {
// Point-deletes every key of a column family (small families only).
void delete_all(MetaStore& meta, Cf cf, rocksdb::WriteBatch* b) {
  auto it = meta.iterator(cf);
  for (it->SeekToFirst(); it->Valid(); it->Next()) b->Delete(meta.handle(cf), it->key());
}
}  // namespace

bool Caller::in_group(uint32_t g) const {
  return gid == g || std::find(groups.begin(), groups.end(), g) != groups.end();
}

FileSystem::FileSystem(std::unique_ptr<Volume> volume, FsOptions opts)
    : m_volume(std::move(volume)),
      m_read_only(m_volume->read_only()),
      m_commit_enabled(opts.commit.enabled),
      m_commit_delay_us(opts.commit.max_delay_us),
      m_sync_interval_ms(opts.sync_interval_ms == 0 ? 1 : opts.sync_interval_ms),
      m_io_workers(opts.io_workers),
      m_cache(opts.extent_cache_bytes) {
  std::vector<std::pair<uint64_t, uint64_t>> areas;
  for (size_t i = 0; i < m_volume->disk_count(); ++i) {
    const auto& sb = m_volume->superblock(i);
    areas.emplace_back(sb.data_start, sb.disk_size);
  }
  m_alloc = std::make_unique<Allocator>(areas);
  m_replicas = std::make_unique<ReplicaIo>(*m_volume, m_readers, m_jobs, &m_cache);
  m_commit = std::make_unique<GroupCommitCoordinator>(&m_volume->meta(), opts.commit);
  m_inodes = std::make_unique<InodeStore>(m_volume->meta(), *m_commit, kExtentMapBudget);
  m_commit->set_after_write(
      [inodes = m_inodes.get()](const rocksdb::WriteBatch& b) { inodes->apply_committed(b); });
  m_reservations =
      std::make_unique<Reservations>(m_volume->meta(), *m_inodes, *m_alloc, *m_commit, m_locks);
  m_tiering = std::make_unique<Tiering>(
      *m_volume, *m_alloc, *m_inodes, m_jobs,
      [this](std::string_view key, std::string_view value, const ExtentRecord& e,
             const std::vector<ExtentCopy>& keep, const std::vector<DiskRange>& dropped, size_t add,
             DiskMask allowed) {
        return m_placement->replace_copies(key, value, e, keep, dropped, add, allowed);
      });
  m_tiering->set_settings(opts.tiering);
  m_namespace = std::make_unique<Namespace>(
      *m_volume, *m_inodes, *m_commit, m_locks, m_open, *m_reservations, *m_tiering,
      [this](const std::vector<DiskRange>& freed) { release_space(freed); });
  m_namespace->set_atime_policy(opts.atime);
  m_data = std::make_unique<FileData>(
      *m_volume, *m_alloc, *m_commit, m_locks, m_readers, *m_replicas, m_shared, *m_inodes,
      *m_reservations, *m_tiering, *m_namespace, [this] { return sync_all(); },
      opts.journal_max_bytes);
  m_placement = std::make_unique<DataPlacement>(*m_volume, *m_alloc, *m_commit, m_locks, m_readers,
                                                *m_replicas, *m_inodes, *m_data, *m_namespace,
                                                *m_tiering, m_jobs, [this] { return sync_all(); });
  m_snapshots = std::make_unique<Snapshots>(
      *m_volume, *m_commit, m_shared, m_jobs,
      Snapshots::Hooks{[this] { return sync_data_disks(); },
                       [this](const std::vector<DiskRange>& freed) { release_space(freed); }});
  m_sync = std::make_unique<VolumeSync>(*m_volume, *m_replicas, *m_commit);
  m_commit->set_before_write([sync = m_sync.get()] { sync->note_commit(); });
  if (opts.io_workers != 0) set_io_workers(opts.io_workers);
}

void FileSystem::set_commit_settings(const GroupCommitSettings& s) {
  m_commit->set_settings(s);
  m_commit_delay_us.store(s.max_delay_us);
  m_commit_enabled.store(s.enabled);
}

void FileSystem::set_sync_interval_ms(unsigned ms) {
  m_sync_interval_ms.store(ms == 0 ? 1 : ms);
  m_jobs.reschedule(m_sync_job);  // the next sync after the new interval
}

void FileSystem::set_tier_settings(const TierSettings& t) {
  m_tiering->set_settings(t);
  m_jobs.wake(m_tier_job);
}

Result<SnapshotInfo> FileSystem::create_snapshot(const std::string& name) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  return m_snapshots->create(name);
}

Status FileSystem::delete_snapshot(const std::string& name) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  return m_snapshots->remove(name);
}

Result<std::vector<SnapshotUsage>> FileSystem::list_snapshots() const {
  return m_snapshots->list();
}

Result<InodeRecord> FileSystem::setattr(uint64_t ino, const SetAttr& attr, const Caller& caller) {
  if (attr.valid & SetAttr::kSize) {
    DFS_RETURN_IF_ERROR(check_writable(m_read_only));
    InodeRecord after;
    DFS_RETURN_IF_ERROR(m_data->truncate(ino, attr.size, &after));
    if ((attr.valid & ~static_cast<uint32_t>(SetAttr::kSize)) == 0) return after;
  }
  return m_namespace->setattr(ino, attr, caller);
}

Status FileSystem::open_file(uint64_t ino, int flags) {
  if (m_read_only && (flags & O_ACCMODE) != O_RDONLY) return Status::error(EROFS);
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes->load(ino));
  m_namespace->open_file(ino);
  if ((flags & O_TRUNC) && rec.is_reg() && (flags & O_ACCMODE) != O_RDONLY) {
    InodeRecord after;
    Status st = m_data->truncate(ino, 0, &after);
    if (!st.is_ok()) {
      (void)m_namespace->close(ino);
      return st;
    }
  }
  return Status::ok();
}

void FileSystem::set_discard(bool on) {
  if (m_discarder) m_discarder->set_enabled(on);
}

Result<TrimResult> FileSystem::trim(uint64_t min_len) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  // Space freed by recent commits joins the free map first.
  DFS_RETURN_IF_ERROR(sync_all());
  return m_discarder->trim(min_len);
}

void FileSystem::set_io_workers(unsigned workers) {
  m_io_workers.store(workers);
  for (size_t i = 0; i < m_volume->disk_count(); ++i) m_volume->scheduler(i).set_workers(workers);
}

FileSystem::~FileSystem() {
  if (!m_shut_down) {
    Status st = shutdown();
    if (!st.is_ok()) spdlog::error("shutdown failed: {}", st.to_string());
  }
  m_jobs.stop();                               // before the parts its jobs use go
  m_volume->meta().set_before_flush(nullptr);  // the hook points at this object
}

Result<std::unique_ptr<FileSystem>> FileSystem::open(std::unique_ptr<Volume> volume,
                                                     FsOptions opts) {
  std::unique_ptr<FileSystem> fs(new FileSystem(std::move(volume), opts));
  if (fs->m_read_only) {
    // A snapshot: nothing to recover and nothing ever written; the free
    // space is only for statfs.
    DFS_RETURN_IF_ERROR(fs->rebuild_free_space(/*with_snapshots=*/false));
    return fs;
  }
  DFS_RETURN_IF_ERROR(fs->recover());
  fs->m_recovered = true;
  fs->m_discarder =
      std::make_unique<Discarder>(*fs->m_volume, *fs->m_alloc, fs->m_jobs, opts.discard);
  fs->m_tiering->refresh_active();
  // A memtable reaches disk only after the data it points at.
  fs->m_volume->meta().set_before_flush([raw = fs.get()] {
    Status st = raw->sync_data_disks();
    if (!st.is_ok()) spdlog::error("data sync before a metadata flush failed: {}", st.to_string());
  });
  fs->start_background_jobs();
  return fs;
}

Status FileSystem::load_checkpoint(bool* loaded) {
  *loaded = false;
  auto& meta = m_volume->meta();
  DFS_ASSIGN_OR_RETURN(auto clean, meta.get(Cf::kVolume, KeyCodec::kCleanUnmount));
  if (!clean.has_value() || clean.value().size() != 8) return Status::ok();
  m_inodes->set_inode_count(get_le<uint64_t>(clean.value().data()));
  DFS_ASSIGN_OR_RETURN(auto cp, read_space_checkpoint(meta, m_volume->disk_count()));
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> free(m_volume->disk_count());
  for (const DiskRange& r : cp.free) free[r.disk].emplace_back(r.offset, r.length);
  for (const auto& [r, extra] : cp.shared) m_shared.load(r, extra);
  for (uint32_t d = 0; d < free.size(); ++d) m_alloc->load_free(d, free[d]);
  *loaded = true;
  return Status::ok();
}

Status FileSystem::rebuild_free_space(bool with_snapshots) {
  auto& meta = m_volume->meta();
  DFS_ASSIGN_OR_RETURN(std::vector<DiskRange> refs, extent_space(meta));
  const size_t extents = refs.size();
  if (with_snapshots) DFS_RETURN_IF_ERROR(Snapshots::add_refs(*m_volume, &refs));
  // Space several extents point at (instant copies, snapshots) is used
  // once and shared.
  for (const DiskRange& r : SharedExtents::count(std::move(refs), &m_shared))
    DFS_RETURN_IF_ERROR(m_alloc->mark_used(r));
  uint64_t inodes = 0;
  auto iit = meta.iterator(Cf::kInodes);
  for (iit->SeekToFirst(); iit->Valid(); iit->Next()) ++inodes;
  m_inodes->set_inode_count(inodes);
  spdlog::info("rebuilt free space from {} extents, {} inodes", extents, inodes);
  return Status::ok();
}

Status FileSystem::recover() {
  auto& meta = m_volume->meta();
  // A snapshot half made or half deleted by a crash goes first; the saved
  // reference counts may then be off, so they are rebuilt.
  bool partial = false;
  DFS_RETURN_IF_ERROR(SnapshotCatalog::clean_partial(m_volume->dir(), &partial));
  bool loaded = false;
  if (!partial) DFS_RETURN_IF_ERROR(load_checkpoint(&loaded));
  if (!loaded) {
    spdlog::warn("volume was not unmounted cleanly; rebuilding free space from the extent map");
    DFS_RETURN_IF_ERROR(rebuild_free_space(/*with_snapshots=*/true));
  }
  // From now on the volume is dirty until the next clean unmount.
  rocksdb::WriteBatch dirty;
  dirty.Delete(meta.handle(Cf::kVolume), KeyCodec::kCleanUnmount);
  delete_all(meta, Cf::kAlloc, &dirty);
  DFS_RETURN_IF_ERROR(meta.write(&dirty, true));

  DFS_ASSIGN_OR_RETURN(auto next, meta.get(Cf::kVolume, KeyCodec::kNextIno));
  if (!next.has_value() || next.value().size() != 8)
    return Status::error(EUCLEAN, "volume record next_ino missing");
  uint64_t next_ino = get_le<uint64_t>(next.value().data());
  auto last = meta.iterator(Cf::kInodes);
  last->SeekToLast();
  if (last->Valid()) {
    next_ino = std::max(next_ino,
                        KeyCodec::decode_inode_key({last->key().data(), last->key().size()}) + 1);
  }
  m_inodes->set_next_ino(next_ino);
  // The pool keeps the files' reservations free (fallocate); orphans give
  // theirs back as they go.
  DFS_ASSIGN_OR_RETURN(uint64_t reserved, m_reservations->load_total());
  m_alloc->set_reserved(reserved);
  DFS_ASSIGN_OR_RETURN(size_t orphans, m_namespace->remove_orphans());
  if (orphans > 0) DFS_RETURN_IF_ERROR(sync_metadata());
  return Status::ok();
}

Status FileSystem::shutdown() {
  if (m_shut_down) return Status::ok();
  m_shut_down = true;
  // Every job ends its pass; the snapshot deleter and the repairer drain
  // their queues, and claimed discards are back in the free map.
  m_jobs.stop();
  // A read-only mount writes nothing; a mount whose recovery failed must not
  // write a checkpoint of the state it could not load.
  if (m_read_only || !m_recovered) return Status::ok();
  DFS_RETURN_IF_ERROR(sync_data_disks());  // repaired copies and journaled small writes too
  DFS_RETURN_IF_ERROR(sync_all());
  // What the last syncs freed is discarded now: the untrimmed set is not
  // kept across mounts.
  m_discarder->discard_untrimmed_now();
  // Write the clean-unmount checkpoint: free space and the inode count.
  auto& meta = m_volume->meta();
  rocksdb::WriteBatch b;
  delete_all(meta, Cf::kAlloc, &b);
  for (uint32_t d = 0; d < m_alloc->disk_count(); ++d) {
    for (auto [off, len] : m_alloc->free_ranges(d)) {
      std::string v;
      put_le<uint64_t>(&v, len);
      b.Put(meta.handle(Cf::kAlloc), KeyCodec::alloc_key(d, off), v);
    }
  }
  for (const auto& [r, extra] : m_shared.entries()) {
    std::string v;
    put_le<uint64_t>(&v, r.length);
    put_le<uint32_t>(&v, extra);
    b.Put(meta.handle(Cf::kAlloc), KeyCodec::shared_key(r.disk, r.offset), v);
  }
  std::string count;
  put_le<uint64_t>(&count, m_inodes->inode_count());
  b.Put(meta.handle(Cf::kVolume), KeyCodec::kCleanUnmount, count);
  DFS_RETURN_IF_ERROR(meta.write(&b, true));
  Status flushed = meta.flush();
  meta.set_before_flush(nullptr);
  return flushed;
}

void FileSystem::start_background_jobs() {
  // Started in the order they may rely on one another (the repair job,
  // from ReplicaIo, and the discard job came first); stopped in reverse.
  BackgroundScheduler::Job tier;
  tier.name = "tier";
  tier.period = [this] {
    return std::chrono::milliseconds(std::max(100u, m_tiering->settings().interval_ms));
  };
  tier.pass = [this] {
    Status st = m_tiering->run_pass();
    if (!st.is_ok()) spdlog::warn("tiering pass failed: {}", st.to_string());
  };
  m_tier_job = m_jobs.start(std::move(tier));

  m_placement->start_convert_job();

  m_snapshots->start_job();

  // Every write reaches its disk within an interval, journaled ones too,
  // so the WAL never holds more than an interval of their data.
  BackgroundScheduler::Job sync;
  sync.name = "sync";
  sync.period = [this] { return std::chrono::milliseconds(m_sync_interval_ms.load()); };
  sync.pass = [this] {
    Status st = sync_data_disks();
    if (st.is_ok()) st = sync_all();
    if (!st.is_ok()) spdlog::error("background sync failed: {}", st.to_string());
  };
  m_sync_job = m_jobs.start(std::move(sync));
}

Status FileSystem::sync_data_disks() {
  return m_sync->sync_data_disks();
}

Status FileSystem::sync_metadata() {
  // Frees applied before this point become reusable once the WAL holding
  // them is durable.
  std::vector<DeferredFree> freed = m_alloc->take_pending();
  Status st = m_sync->run_round();  // the data those batches point at, then the WAL
  if (st.is_ok()) {
    m_alloc->mark_durable(std::move(freed));
  } else {
    m_alloc->return_pending(std::move(freed));
  }
  // Durable frees become allocatable once no reader that started before
  // them is still running.
  // The cache forgets the space before anything can be written there.
  auto forget = [this](const std::vector<DiskRange>& r) { m_cache.invalidate(r); };
  if (m_alloc->reclaim(m_readers.oldest_active(), forget) > 0 && m_discarder) m_discarder->notify();
  return st;
}

Status FileSystem::sync_all() {
  if (m_read_only) return Status::ok();  // nothing is ever written
  // Data first, then the metadata that points at it (VolumeSync), with no
  // writer held back across a disk or WAL sync. Concurrent callers share
  // one round (the group commit of fsyncs); with group commit off, every
  // caller does its own.
  auto round = [this]() -> Status { return sync_metadata(); };
  if (!m_commit_enabled.load(std::memory_order_relaxed)) {
    m_solo_sync_rounds.fetch_add(1, std::memory_order_relaxed);
    return round();
  }
  return m_sync_round.sync(round, std::chrono::microseconds(m_commit_delay_us.load()));
}

Status FileSystem::fsync(uint64_t ino, bool /*datasync*/) {
  // Data first, then the metadata that points at it, then the reply.
  DFS_RETURN_IF_ERROR(m_inodes->load(ino).status());
  m_fsync_requests.fetch_add(1, std::memory_order_relaxed);
  return sync_all();
}

void FileSystem::power_cut(uint64_t seed,
                           const std::function<void(size_t undone, const Status&)>& die) {
  // The gate is what a sync round holds while it writes the WAL buffer to
  // its file: once we have it, no metadata reaches the WAL file any more.
  auto paused = m_commit->pause_commits();
  size_t undone = 0;
  Status st;
  for (size_t i = 0; i < m_volume->disk_count() && st.is_ok(); ++i) {
    auto n = m_volume->disk(i).power_loss(/*random_subset=*/true, seed + i);
    if (n.is_ok()) {
      undone += n.value();
    } else {
      st = n.status();
    }
  }
  die(undone, st);
}

Result<CopyCheck> FileSystem::scrub_extent(std::string_view key, std::string_view value,
                                           IoClass cls, bool* live) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  *live = false;
  // Pinned before the liveness check: once the record is seen live, its
  // space cannot be reused until the pin goes, so repairs write safely.
  ReaderTracker::Pin pin = m_readers.enter();
  DFS_ASSIGN_OR_RETURN(auto cur, m_volume->meta().get(Cf::kExtents, std::string(key)));
  if (!cur.has_value() || *cur != value) return CopyCheck{};
  DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode(value));
  *live = true;
  return m_replicas->check_all(
      e, cls, ReadSite{KeyCodec::extent_key_ino(key), KeyCodec::extent_key_offset(key)});
}

struct statvfs FileSystem::statfs() const {
  struct statvfs s {};
  uint64_t cap = 0, free = 0;
  for (uint32_t d = 0; d < m_alloc->disk_count(); ++d) {
    auto sp = m_alloc->space(d);
    cap += sp.capacity;
    free += sp.free + sp.deferred;
  }
  // Every byte written takes `replicas` bytes of the pool: report what a
  // user can store.
  // Reserved space (fallocate) is promised to files: used, as on ext4.
  free -= std::min(free, m_alloc->reserved());
  const uint64_t copies = std::max<uint32_t>(1, m_volume->replicas());
  cap /= copies;
  free /= copies;
  s.f_bsize = kBlock;
  s.f_frsize = kBlock;
  s.f_blocks = cap / kBlock;
  s.f_bfree = free / kBlock;
  s.f_bavail = free / kBlock;
  uint64_t used_inodes = m_inodes->inode_count();
  s.f_files = used_inodes + free / kBlock;
  s.f_ffree = free / kBlock;
  s.f_favail = s.f_ffree;
  s.f_namemax = kNameMax;
  return s;
}

FsStats FileSystem::stats() const {
  FsStats s;
  s.inodes = m_inodes->inode_count();
  for (uint32_t d = 0; d < m_alloc->disk_count(); ++d) {
    s.disks.push_back(m_alloc->space(d));
    auto io = m_volume->scheduler(d).stats();
    s.bytes_read += io.bytes_read;
    s.bytes_written += io.bytes_written;
  }
  s.commit = m_commit->stats();
  s.locks = m_locks.stats();
  s.checksum_errors = m_replicas->checksum_errors();
  s.repairs = m_replicas->repairs();
  s.rebuilt = m_replicas->rebuilt();
  s.unrepaired = m_replicas->unrepaired();
  s.fsync_requests = m_fsync_requests.load();
  s.sync_rounds = m_sync_round.syncs() + m_solo_sync_rounds.load();
  s.sync_rounds_gated = m_sync->gated_rounds();
  s.reserved = m_alloc->reserved();
  if (m_discarder) s.discard = m_discarder->stats();
  return s;
}

}  // namespace dynamicfs

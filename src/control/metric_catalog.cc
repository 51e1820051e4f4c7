// MetricCatalog: the table itself.
#include "src/control/metric_catalog.h"

namespace dynamicfs {

namespace {

using T = MetricType;

const std::vector<MetricDef> kMetrics = {
    // volume
    {"uptime_seconds", T::kGauge, "volume", "", "Seconds since the volume was mounted."},
    {"inodes", T::kGauge, "volume", "", "Inodes in use (files, directories, links)."},
    // fuse
    {"fuse_ops_total", T::kCounter, "fuse", "op", "FUSE requests handled, by operation."},
    {"fuse_op_errors_total", T::kCounter, "fuse", "op",
     "FUSE requests answered with an error, by operation."},
    {"fuse_op_latency_seconds", T::kHistogram, "fuse", "op",
     "Time from receiving a FUSE request to replying, by operation."},
    // locks
    {"lock_acquisitions", T::kCounter, "locks", "",
     "Extent and inode lock acquisitions (one per operation)."},
    {"lock_contentions_total", T::kCounter, "locks", "",
     "Lock acquisitions that had to wait for another holder."},
    {"lock_contention_ratio", T::kGauge, "locks", "",
     "lock_contentions_total divided by lock_acquisitions."},
    {"lock_wait_seconds_total", T::kCounter, "locks", "", "Time spent waiting for locks."},
    // metadata
    {"group_commits_total", T::kCounter, "metadata", "",
     "Merged RocksDB writes, each carrying the batches of many operations."},
    {"avg_group_commit_ops", T::kGauge, "metadata", "",
     "Mean number of metadata mutations per group commit."},
    {"group_commit_latency_seconds", T::kHistogram, "metadata", "",
     "Duration of one merged metadata write."},
    {"metadata_batches_total", T::kCounter, "metadata", "",
     "Operation batches applied (one per filesystem operation)."},
    {"metadata_ops_total", T::kCounter, "metadata", "", "Metadata mutations applied."},
    {"fsync_requests_total", T::kCounter, "metadata", "",
     "fsync, fdatasync, O_SYNC writes and directory fsyncs served."},
    {"sync_rounds_total", T::kCounter, "metadata", "",
     "Data-then-metadata sync rounds: shared by concurrent fsyncs, plus the background sync."},
    {"sync_rounds_gated_total", T::kCounter, "metadata", "",
     "Sync rounds in which writers kept outrunning the data sync, so metadata commits waited "
     "for one data pass."},
    {"wal_syncs_total", T::kCounter, "metadata", "", "Metadata WAL syncs performed."},
    {"wal_sync_latency_seconds", T::kHistogram, "metadata", "",
     "Duration of one metadata WAL sync."},
    {"metadata_memtable_bytes", T::kGauge, "metadata", "", "Memory held by RocksDB memtables."},
    {"metadata_live_data_bytes", T::kGauge, "metadata", "",
     "RocksDB's estimate of live metadata on disk."},
    {"metadata_block_cache_bytes", T::kGauge, "metadata", "",
     "Memory used by the metadata block cache."},
    {"metadata_block_cache_capacity_bytes", T::kGauge, "metadata", "",
     "Capacity of the metadata block cache (setting metadata_cache_mb)."},
    {"metadata_record_cache_hits_total", T::kCounter, "metadata", "",
     "Point reads of inodes, directory entries and xattrs served from memory."},
    {"metadata_record_cache_misses_total", T::kCounter, "metadata", "",
     "Point reads the record cache loaded from RocksDB."},
    {"metadata_record_cache_bytes", T::kGauge, "metadata", "",
     "Memory held by the record cache of inodes, directory entries and xattrs."},
    // io
    {"io_queue_length", T::kGauge, "io", "disk,class",
     "I/O jobs waiting in a disk's queue, by priority class."},
    {"io_ops_total", T::kCounter, "io", "disk,class", "I/O jobs run, by disk and priority class."},
    {"io_bytes_total", T::kCounter, "io", "disk,dir", "Bytes read and written, by disk."},
    {"io_coalesced_writes_total", T::kCounter, "io", "disk",
     "Queued writes merged into an adjacent write's pwritev."},
    {"io_workers", T::kGauge, "io", "disk",
     "I/O workers configured for a disk (setting io_workers)."},
    {"io_worker_threads", T::kGauge, "io", "disk",
     "I/O worker threads running for a disk now; follows io_workers at once."},
    // disks
    {"disk_state", T::kGauge, "disks", "disk",
     "Disk state: 1 online, 0 failed, 2 draining, 3 removed."},
    {"space_bytes", T::kGauge, "disks", "disk,kind",
     "Disk space by kind: capacity, used, free, deferred (freed, awaiting commit)."},
    {"space_reserved_bytes", T::kGauge, "disks", "",
     "Pool bytes kept free for fallocate reservations (all copies); counted as used by df."},
    {"discard_bytes_total", T::kCounter, "disks", "",
     "Freed bytes discarded on the devices (automatic batches and `dynamicfs trim`)."},
    {"discard_ops_total", T::kCounter, "disks", "",
     "Device discard calls (BLKDISCARD or hole punches)."},
    {"discard_errors_total", T::kCounter, "disks", "",
     "Discard calls that failed for a reason other than lack of support."},
    {"discard_pending_bytes", T::kGauge, "disks", "",
     "Freed bytes not yet discarded (an upper bound: some may be in use again)."},
    {"tier_space_bytes", T::kGauge, "disks", "class,kind",
     "Space of the writable disks of each tiering class (ssd, hdd): capacity, used."},
    {"tier_migrated_bytes_total", T::kCounter, "disks", "dir",
     "Bytes of copies moved by tiering: down (ssd to hdd, cold) and up (hdd to ssd, hot)."},
    {"policy_convert_pending_files", T::kGauge, "disks", "",
     "Files waiting for, or in, the background conversion to their data policy."},
    {"policy_converted_bytes_total", T::kCounter, "disks", "",
     "Bytes of extents rewritten to their file's data policy (copies or stripes)."},
    // cache
    {"extent_cache_hits_total", T::kCounter, "cache", "",
     "File reads served whole from the extent cache (no disk read, no checksum)."},
    {"extent_cache_misses_total", T::kCounter, "cache", "",
     "File reads the extent cache could not serve whole (read from the disks)."},
    {"extent_cache_hit_ratio", T::kGauge, "cache", "",
     "Bytes served from the extent cache over all bytes looked up there, since mount."},
    {"extent_cache_bytes", T::kGauge, "cache", "", "Memory the extent cache holds now."},
    {"extent_cache_capacity_bytes", T::kGauge, "cache", "",
     "Capacity of the extent cache (setting extent_cache_mb)."},
    {"extent_cache_evictions_total", T::kCounter, "cache", "",
     "64 KiB cache chunks dropped, least recently used first, to stay under the capacity."},
    // health
    {"checksum_errors_total", T::kCounter, "health", "",
     "Blocks whose crc32c did not match when read or scrubbed."},
    {"repairs_total", T::kCounter, "health", "",
     "Bad blocks rewritten from a good replica or rebuilt from a stripe's other units."},
    {"ec_rebuilt_blocks_total", T::kCounter, "health", "",
     "Blocks of erasure-coded stripes rebuilt from the other units (a unit unreadable or "
     "failing its checksum)."},
    {"scrub_running", T::kGauge, "health", "", "1 while a scrub is running."},
    {"scrub_progress", T::kGauge, "health", "",
     "Fraction of the used space the running (or last) scrub has verified."},
    {"scrub_bytes_total", T::kCounter, "health", "", "Bytes verified by scrubs."},
    {"scrubs_total", T::kCounter, "health", "", "Scrubs completed."},
    // replication
    {"replication_bytes_total", T::kCounter, "replication", "dir",
     "Bytes sent and received by replication of this volume."},
    {"replication_peers", T::kGauge, "replication", "", "Peers connected for replication."},
    {"replication_progress", T::kGauge, "replication", "",
     "Fraction of the current replication completed."},
    // lab sync (`replicate publish` / `replicate follow`; a mount of a
    // follower's slot reports its follower's values)
    {"lab_sync_generation", T::kGauge, "lab_sync", "",
     "Follower: generation of the published snapshot it is on. Publisher: newest published."},
    {"lab_sync_latest_published", T::kGauge, "lab_sync", "",
     "Follower: newest generation its feed announced."},
    {"lab_sync_fetch_progress", T::kGauge, "lab_sync", "",
     "Follower: fraction of the snapshot being fetched that is verified (0 when idle)."},
    {"lab_sync_received_bytes_total", T::kCounter, "lab_sync", "",
     "Follower: bytes received by the fetches its follower ran since it started."},
    {"lab_sync_switches_total", T::kCounter, "lab_sync", "",
     "Follower: switches to a newly fetched snapshot since it started."},
    {"lab_sync_errors_total", T::kCounter, "lab_sync", "",
     "Follower: feed reads or fetches that failed (refused feeds included)."},
    {"lab_sync_published_snapshots", T::kGauge, "lab_sync", "",
     "Publisher: snapshots published and seeded now (at most --keep)."},
    {"lab_sync_uploaded_bytes", T::kGauge, "lab_sync", "",
     "Publisher: bytes its seeds of the published snapshots have sent."},
    {"lab_sync_feed_requests_total", T::kCounter, "lab_sync", "",
     "Publisher: feed and torrent requests received."},
    {"lab_sync_feed_refused_total", T::kCounter, "lab_sync", "",
     "Publisher: requests refused for a missing or wrong secret."},
};

const std::vector<std::string_view> kGroups = {"volume",      "fuse",    "locks", "metadata",
                                               "io",          "disks",   "cache", "health",
                                               "replication", "lab_sync"};

}  // namespace

const char* metric_type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

const std::vector<MetricDef>& MetricCatalog::all() {
  return kMetrics;
}

const MetricDef* MetricCatalog::find(std::string_view name) {
  for (const auto& d : kMetrics) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

const std::vector<std::string_view>& MetricCatalog::groups() {
  return kGroups;
}

std::string MetricCatalog::prometheus_name(const MetricDef& def) {
  std::string name = "dynamicfs_" + std::string(def.name);
  bool has_total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
  if (def.type == MetricType::kCounter && !has_total) name += "_total";
  return name;
}

}  // namespace dynamicfs

// DaemonStatus: metric collection, sampling and the status summary.
#include "src/cli/daemon_status.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>

#include "src/replication/follow_slots.h"

namespace dynamicfs {

using nlohmann::json;

namespace {

// disk_state metric: 1 online, 0 failed, 2 draining (being removed),
// 3 removed.
double disk_state_value(DiskState st) {
  switch (st) {
    case DiskState::kOnline:
      return 1.0;
    case DiskState::kFailed:
      return 0.0;
    case DiskState::kDraining:
      return 2.0;
    case DiskState::kRemoved:
      return 3.0;
  }
  return 0.0;
}

double ratio(uint64_t a, uint64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

double per_second(uint64_t now, uint64_t then, double seconds) {
  return seconds <= 0 || now < then ? 0.0 : static_cast<double>(now - then) / seconds;
}

nlohmann::json class_json(const TierClassUse& u) {
  return {{"disks", u.disks}, {"capacity_bytes", u.capacity}, {"used_bytes", u.used}};
}

}  // namespace

nlohmann::json DaemonStatus::tiering_json(const TierStats& ts, const TierSettings& t,
                                          const Sample& now, const Sample* oldest) {
  const double window = oldest ? std::chrono::duration<double>(now.at - oldest->at).count() : 0.0;
  return {{"active", ts.active},
          {"high_water_percent", t.high_water},
          {"low_water_percent", t.low_water},
          {"ssd", class_json(ts.ssd)},
          {"hdd", class_json(ts.hdd)},
          {"demoted_bytes_total", ts.demoted_bytes},
          {"promoted_bytes_total", ts.promoted_bytes},
          {"demoted_extents_total", ts.demoted_extents},
          {"promoted_extents_total", ts.promoted_extents},
          {"migration_bytes_per_second",
           oldest ? per_second(now.tier_moved, oldest->tier_moved, window) : 0.0}};
}

namespace {

nlohmann::json extent_cache_json(const ExtentCacheStats& ec) {
  return {{"capacity_bytes", ec.capacity_bytes},
          {"bytes", ec.used_bytes},
          {"hits_total", ec.hits},
          {"misses_total", ec.misses},
          {"hit_ratio", ec.hit_ratio()},
          {"evictions_total", ec.evictions}};
}

}  // namespace

DaemonStatus::DaemonStatus(FileSystem& fs, FuseServer& fuse, ScrubService& scrub,
                           DaemonSettings& settings, std::string mountpoint)
    : m_fs(fs),
      m_fuse(fuse),
      m_scrub(scrub),
      m_settings(settings),
      m_mountpoint(std::move(mountpoint)),
      m_start(std::chrono::steady_clock::now()) {}

MetricSet DaemonStatus::collect() const {
  MetricSet m;
  FsStats s = m_fs.stats();
  Volume& vol = m_fs.volume();
  auto d = [](size_t i) { return std::to_string(i); };
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  m.add("uptime_seconds", {}, uptime);
  m.add("inodes", {}, static_cast<double>(s.inodes));

  for (size_t i = 0; i < kFuseOpCount; ++i) {
    auto op = static_cast<FuseOp>(i);
    const auto& p = m_fuse.op_metrics().op(op);
    MetricLabels l = {{"op", fuse_op_name(op)}};
    m.add("fuse_ops_total", l, static_cast<double>(p.calls.load(std::memory_order_relaxed)));
    m.add("fuse_op_errors_total", l, static_cast<double>(p.errors.load(std::memory_order_relaxed)));
    m.add_histogram("fuse_op_latency_seconds", l, p.latency.snapshot());
  }

  m.add("lock_acquisitions", {}, static_cast<double>(s.locks.acquisitions));
  m.add("lock_contentions_total", {}, static_cast<double>(s.locks.contended));
  m.add("lock_contention_ratio", {}, ratio(s.locks.contended, s.locks.acquisitions));
  m.add("lock_wait_seconds_total", {}, static_cast<double>(s.locks.wait_ns) / 1e9);

  const auto& c = s.commit;
  m.add("group_commits_total", {}, static_cast<double>(c.writes));
  m.add("avg_group_commit_ops", {}, ratio(c.ops, c.writes));
  m.add_histogram("group_commit_latency_seconds", {}, m_fs.commit().write_latency().snapshot());
  m.add("metadata_batches_total", {}, static_cast<double>(c.batches));
  m.add("metadata_ops_total", {}, static_cast<double>(c.ops));
  m.add("fsync_requests_total", {}, static_cast<double>(s.fsync_requests));
  m.add("sync_rounds_total", {}, static_cast<double>(s.sync_rounds));
  m.add("sync_rounds_gated_total", {}, static_cast<double>(s.sync_rounds_gated));
  m.add("wal_syncs_total", {}, static_cast<double>(c.syncs));
  m.add_histogram("wal_sync_latency_seconds", {}, m_fs.commit().sync_latency().snapshot());
  MetaStore& meta = vol.meta();
  m.add("metadata_memtable_bytes", {},
        static_cast<double>(meta.property_sum("rocksdb.cur-size-all-mem-tables")));
  m.add("metadata_live_data_bytes", {},
        static_cast<double>(meta.property_sum("rocksdb.estimate-live-data-size")));
  m.add("metadata_block_cache_bytes", {}, static_cast<double>(meta.block_cache_usage()));
  const RecordCacheStats rc = meta.record_cache_stats();
  m.add("metadata_record_cache_hits_total", {}, static_cast<double>(rc.hits));
  m.add("metadata_record_cache_misses_total", {}, static_cast<double>(rc.misses));
  m.add("metadata_record_cache_bytes", {}, static_cast<double>(rc.bytes));
  m.add("metadata_block_cache_capacity_bytes", {},
        static_cast<double>(meta.block_cache_capacity()));

  for (size_t i = 0; i < vol.disk_count(); ++i) {
    auto io = vol.scheduler(i).stats();
    for (size_t k = 0; k < kIoClassCount; ++k) {
      MetricLabels l = {{"disk", d(i)}, {"class", io_class_name(static_cast<IoClass>(k))}};
      m.add("io_queue_length", l, static_cast<double>(io.queued[k]));
      m.add("io_ops_total", l, static_cast<double>(io.ops[k]));
    }
    m.add("io_bytes_total", {{"disk", d(i)}, {"dir", "read"}}, static_cast<double>(io.bytes_read));
    m.add("io_bytes_total", {{"disk", d(i)}, {"dir", "write"}},
          static_cast<double>(io.bytes_written));
    m.add("io_coalesced_writes_total", {{"disk", d(i)}}, static_cast<double>(io.coalesced_writes));
    m.add("io_workers", {{"disk", d(i)}}, static_cast<double>(vol.scheduler(i).worker_count()));
    m.add("io_worker_threads", {{"disk", d(i)}}, static_cast<double>(io.live_workers));
    m.add("disk_state", {{"disk", d(i)}}, disk_state_value(vol.disk_state(i)));
    const auto& sp = s.disks[i];
    uint64_t used = sp.used();
    m.add("space_bytes", {{"disk", d(i)}, {"kind", "capacity"}}, static_cast<double>(sp.capacity));
    m.add("space_bytes", {{"disk", d(i)}, {"kind", "used"}}, static_cast<double>(used));
    m.add("space_bytes", {{"disk", d(i)}, {"kind", "free"}}, static_cast<double>(sp.free));
    m.add("space_bytes", {{"disk", d(i)}, {"kind", "deferred"}}, static_cast<double>(sp.deferred));
  }

  m.add("space_reserved_bytes", {}, static_cast<double>(s.reserved));
  m.add("discard_bytes_total", {}, static_cast<double>(s.discard.bytes));
  m.add("discard_ops_total", {}, static_cast<double>(s.discard.ops));
  m.add("discard_errors_total", {}, static_cast<double>(s.discard.errors));
  m.add("discard_pending_bytes", {}, static_cast<double>(s.discard.pending));
  const TierStats ts = m_fs.tier_stats();
  for (const auto& [name, use] : {std::pair{"ssd", ts.ssd}, std::pair{"hdd", ts.hdd}}) {
    m.add("tier_space_bytes", {{"class", name}, {"kind", "capacity"}},
          static_cast<double>(use.capacity));
    m.add("tier_space_bytes", {{"class", name}, {"kind", "used"}}, static_cast<double>(use.used));
  }
  m.add("tier_migrated_bytes_total", {{"dir", "down"}}, static_cast<double>(ts.demoted_bytes));
  m.add("tier_migrated_bytes_total", {{"dir", "up"}}, static_cast<double>(ts.promoted_bytes));
  const ConvertStats cs = m_fs.convert_stats();
  m.add("policy_convert_pending_files", {}, static_cast<double>(cs.pending_files));
  m.add("policy_converted_bytes_total", {}, static_cast<double>(cs.bytes));
  const ExtentCacheStats ec = m_fs.extent_cache_stats();
  m.add("extent_cache_hits_total", {}, static_cast<double>(ec.hits));
  m.add("extent_cache_misses_total", {}, static_cast<double>(ec.misses));
  m.add("extent_cache_hit_ratio", {}, ec.hit_ratio());
  m.add("extent_cache_bytes", {}, static_cast<double>(ec.used_bytes));
  m.add("extent_cache_capacity_bytes", {}, static_cast<double>(ec.capacity_bytes));
  m.add("extent_cache_evictions_total", {}, static_cast<double>(ec.evictions));
  m.add("checksum_errors_total", {}, static_cast<double>(s.checksum_errors));
  m.add("repairs_total", {}, static_cast<double>(s.repairs));
  m.add("ec_rebuilt_blocks_total", {}, static_cast<double>(s.rebuilt));
  ScrubProgress sp = m_scrub.progress();
  m.add("scrub_running", {}, sp.running ? 1.0 : 0.0);
  m.add("scrub_progress", {}, sp.fraction());
  m.add("scrub_bytes_total", {}, static_cast<double>(sp.bytes_total));
  m.add("scrubs_total", {}, static_cast<double>(sp.scrubs_total));

  // The daemon does not replicate yet: these read zero until the
  // replication agent serves live volumes.
  m.add("replication_bytes_total", {{"dir", "sent"}}, 0);
  m.add("replication_bytes_total", {{"dir", "received"}}, 0);
  m.add("replication_peers", {}, 0);
  m.add("replication_progress", {}, 0);
  // A slot of a lab-sync follower: what its follower reports.
  const nlohmann::json lab = FollowSlots::lab_sync_status(vol.dir());
  if (lab.is_object()) {
    auto num = [&lab](const char* k) {
      return lab.contains(k) && lab[k].is_number() ? lab[k].get<double>() : 0.0;
    };
    m.add("lab_sync_generation", {}, num("generation"));
    m.add("lab_sync_latest_published", {}, num("latest_published"));
    m.add("lab_sync_fetch_progress", {},
          lab.contains("fetch") && lab["fetch"].is_object() ? lab["fetch"].value("progress", 0.0)
                                                            : 0.0);
    m.add("lab_sync_received_bytes_total", {}, num("received_bytes"));
    m.add("lab_sync_switches_total", {}, num("switches"));
    m.add("lab_sync_errors_total", {}, num("errors"));
  }
  return m;
}

DaemonStatus::Sample DaemonStatus::take_sample() const {
  Sample s;
  s.at = std::chrono::steady_clock::now();
  Volume& vol = m_fs.volume();
  for (size_t i = 0; i < vol.disk_count(); ++i) {
    auto io = vol.scheduler(i).stats();
    s.disk_read.push_back(io.bytes_read);
    s.disk_written.push_back(io.bytes_written);
  }
  for (size_t i = 0; i < kFuseOpCount; ++i) {
    const auto& p = m_fuse.op_metrics().op(static_cast<FuseOp>(i));
    s.op_calls.push_back(p.calls.load(std::memory_order_relaxed));
    s.op_latency.push_back(p.latency.snapshot());
  }
  const TierStats ts = m_fs.tier_stats();
  s.tier_moved = ts.demoted_bytes + ts.promoted_bytes;
  return s;
}

void DaemonStatus::start_sampling(boost::asio::io_context& io) {
  {
    std::lock_guard lk(m_mutex);
    m_samples.push_back(take_sample());
  }
  m_timer.emplace(io);
  schedule_next();
}

void DaemonStatus::schedule_next() {
  m_timer->expires_after(std::chrono::seconds(1));
  m_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled by stop_sampling()
    Sample s = take_sample();
    {
      std::lock_guard lk(m_mutex);
      m_samples.push_back(std::move(s));
      while (m_samples.size() > static_cast<size_t>(kWindowSeconds) + 1) m_samples.pop_front();
    }
    schedule_next();
  });
}

void DaemonStatus::stop_sampling() {
  if (!m_timer) return;
  // Timers are not thread-safe: cancel on the loop, unless it has stopped.
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  boost::asio::post(m_timer->get_executor(), [this, done] {
    m_timer->cancel();
    done->set_value();
  });
  if (fut.wait_for(std::chrono::seconds(2)) != std::future_status::ready) m_timer->cancel();
  m_timer.reset();
}

json DaemonStatus::disks_json(const FsStats& s, const Sample* newest, const Sample* oldest) const {
  Volume& vol = m_fs.volume();
  double window =
      newest && oldest ? std::chrono::duration<double>(newest->at - oldest->at).count() : 0.0;
  json disks = json::array();
  for (size_t i = 0; i < vol.disk_count(); ++i) {
    auto io = vol.scheduler(i).stats();
    const auto& sp = s.disks[i];
    json queue = json::object(), ops = json::object();
    uint64_t depth = 0;
    for (size_t c = 0; c < kIoClassCount; ++c) {
      queue[io_class_name(static_cast<IoClass>(c))] = io.queued[c];
      ops[io_class_name(static_cast<IoClass>(c))] = io.ops[c];
      depth += io.queued[c];
    }
    double rd = 0, wr = 0;
    if (newest && oldest && i < newest->disk_read.size() && i < oldest->disk_read.size()) {
      rd = per_second(newest->disk_read[i], oldest->disk_read[i], window);
      wr = per_second(newest->disk_written[i], oldest->disk_written[i], window);
    }
    disks.push_back({{"index", i},
                     {"path", vol.disk(i).path()},
                     {"uuid", uuid_to_string(vol.superblock(i).disk_uuid)},
                     {"state", disk_state_name(vol.disk_state(i))},
                     {"capacity_bytes", sp.capacity},
                     {"free_bytes", sp.free + sp.deferred},
                     {"used_bytes", sp.used()},
                     {"deferred_free_bytes", sp.deferred},
                     {"rotational", vol.disk(i).rotational()},
                     {"class", disk_class_name(vol.disk_class(i))},
                     {"class_detected", vol.disk_class_detected(i)},
                     {"io_workers", vol.scheduler(i).worker_count()},
                     {"queue_depth", depth},
                     {"io_queue_length", queue},
                     {"io_ops_total", ops},
                     {"io_coalesced_writes_total", io.coalesced_writes},
                     {"read_bytes_total", io.bytes_read},
                     {"written_bytes_total", io.bytes_written},
                     {"read_bytes_per_second", rd},
                     {"write_bytes_per_second", wr}});
  }
  return disks;
}

json DaemonStatus::summary() const {
  FsStats s = m_fs.stats();
  const Volume& vol = m_fs.volume();
  // The newest sample is taken now, so rates include the last second.
  Sample now = take_sample();
  std::optional<Sample> oldest;
  {
    std::lock_guard lk(m_mutex);
    if (!m_samples.empty()) oldest = m_samples.front();
  }
  double window = oldest ? std::chrono::duration<double>(now.at - oldest->at).count() : 0.0;
  json ops = json::array();
  uint64_t total_calls = 0, window_calls = 0;
  for (size_t i = 0; i < kFuseOpCount; ++i) {
    total_calls += now.op_calls[i];
    uint64_t delta = oldest ? now.op_calls[i] - oldest->op_calls[i] : 0;
    window_calls += delta;
    if (delta == 0) continue;
    HistogramSnapshot h = now.op_latency[i].minus(oldest->op_latency[i]);
    ops.push_back({{"op", fuse_op_name(static_cast<FuseOp>(i))},
                   {"ops_per_second", per_second(now.op_calls[i], oldest->op_calls[i], window)},
                   {"calls", delta},
                   {"p50_seconds", h.quantile(0.5)},
                   {"p99_seconds", h.quantile(0.99)}});
  }
  std::sort(ops.begin(), ops.end(), [](const json& a, const json& b) {
    return a["calls"].get<uint64_t>() > b["calls"].get<uint64_t>();
  });
  if (ops.size() > 6) ops.erase(ops.begin() + 6, ops.end());

  auto up = std::chrono::duration_cast<std::chrono::seconds>(now.at - m_start).count();
  const auto& c = s.commit;
  ScrubProgress sp = m_scrub.progress();
  json scrub = {{"running", sp.running},
                {"progress", sp.fraction()},
                {"bytes_done", sp.bytes_done},
                {"bytes_expected", sp.bytes_expected},
                {"scrubs_total", sp.scrubs_total},
                {"last_report", sp.last_report},
                {"interval_seconds", sp.periodic_interval}};
  RebalanceStatus rb = m_fs.rebalance_status();
  json rebalance = {
      {"running", rb.running},
      {"task", rb.task},
      {"bytes_total", rb.bytes_total},
      {"bytes_done", rb.bytes_done},
      {"progress", rb.bytes_total == 0 ? (rb.running ? 0.0 : 1.0)
                                       : std::min(1.0, static_cast<double>(rb.bytes_done) /
                                                           static_cast<double>(rb.bytes_total))},
      {"extents_moved", rb.extents_moved},
      {"result", rb.result}};
  auto snaps = SnapshotCatalog::list(vol.dir());
  json snapshots = {{"count", snaps.is_ok() ? snaps->size() : 0},
                    {"deletes_pending", m_fs.snapshot_deletes_pending()},
                    {"read_only_snapshot", vol.snapshot()}};
  const ConvertStats conv = m_fs.convert_stats();  // one consistent reading
  return json{{"volume", vol.dir()},
              {"volume_uuid", uuid_to_string(vol.config().volume_uuid)},
              {"mountpoint", m_mountpoint},
              {"pid", ::getpid()},
              {"uptime_seconds", up},
              {"health", vol.degraded()     ? "degraded"
                         : s.unrepaired > 0 ? "errors"
                                            : "ok"},
              {"replicas", vol.config().replicas},
              {"inodes", s.inodes},
              {"disks", disks_json(s, &now, oldest ? &*oldest : nullptr)},
              {"checksum_errors_total", s.checksum_errors},
              {"repairs_total", s.repairs},
              {"fuse",
               {{"window_seconds", window},
                {"ops_total", total_calls},
                {"ops_per_second",
                 oldest ? per_second(total_calls, total_calls - window_calls, window) : 0},
                {"busiest", ops}}},
              {"metadata",
               {{"batches_total", c.batches},
                {"ops_total", c.ops},
                {"group_commits_total", c.writes},
                {"avg_group_commit_ops", ratio(c.ops, c.writes)},
                {"group_commit_latency_seconds_sum", static_cast<double>(c.write_ns) / 1e9},
                {"fsync_requests_total", s.fsync_requests},
                {"sync_rounds_total", s.sync_rounds},
                {"sync_rounds_gated_total", s.sync_rounds_gated},
                {"avg_fsyncs_per_round", ratio(s.fsync_requests, s.sync_rounds)},
                {"sync_requests_total", c.sync_requests},
                {"wal_syncs_total", c.syncs},
                {"avg_sync_group_size", ratio(c.sync_requests, c.syncs)},
                {"wal_sync_latency_seconds_sum", static_cast<double>(c.sync_ns) / 1e9}}},
              {"locks",
               {{"lock_acquisitions", s.locks.acquisitions},
                {"lock_contentions", s.locks.contended},
                {"lock_wait_seconds_sum", static_cast<double>(s.locks.wait_ns) / 1e9},
                {"lock_contention_ratio", ratio(s.locks.contended, s.locks.acquisitions)}}},
              {"scrub", scrub},
              {"rebalance", rebalance},
              {"snapshots", snapshots},
              {"lab_sync", FollowSlots::lab_sync_status(vol.dir())},
              {"extent_cache", extent_cache_json(m_fs.extent_cache_stats())},
              {"policy_convert",
               {{"pending_files", conv.pending_files},
                {"extents_total", conv.extents},
                {"bytes_total", conv.bytes}}},
              {"tiering", tiering_json(m_fs.tier_stats(), m_fs.tier_settings(), now,
                                       oldest ? &*oldest : nullptr)},
              {"discard",
               {{"enabled", s.discard.enabled},
                {"bytes_total", s.discard.bytes},
                {"pending_bytes", s.discard.pending},
                {"errors_total", s.discard.errors},
                {"unsupported_disks", s.discard.unsupported}}},
              {"replication", {{"active", false}, {"peers", 0}, {"progress", 0}}},
              {"metrics_endpoint", m_metrics_endpoint},
              {"settings", m_settings.all()}};
}

}  // namespace dynamicfs

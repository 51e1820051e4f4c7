// DaemonStatus: everything `dynamicfs status` reports, read from the live
// counters of the filesystem, the I/O schedulers and the FUSE handlers.
// collect() builds the full MetricSet (--metrics, --json, --prometheus and
// HTTP /metrics); summary() adds what needs history: rates and recent
// latencies, from one sample per second kept on the control loop's timer.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fuse/fuse_server.h"
#include "src/cli/daemon_settings.h"
#include "src/cli/scrub_service.h"
#include "src/control/metric_set.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

class DaemonStatus {
 public:
  static constexpr int kWindowSeconds = 10;  // rates and recent latencies

  DaemonStatus(FileSystem& fs, FuseServer& fuse, ScrubService& scrub, DaemonSettings& settings,
               std::string mountpoint);
  ~DaemonStatus() { stop_sampling(); }

  void set_metrics_endpoint(std::string endpoint) { m_metrics_endpoint = std::move(endpoint); }
  MetricSet collect() const;
  // The one-screen summary, as JSON (the CLI renders it).
  nlohmann::json summary() const;

  // Takes one sample per second on `io` until stop_sampling().
  void start_sampling(boost::asio::io_context& io);
  void stop_sampling();

 private:
  struct Sample {
    std::chrono::steady_clock::time_point at;
    std::vector<uint64_t> disk_read, disk_written;  // bytes, per disk
    std::vector<uint64_t> op_calls;                 // per FuseOp
    std::vector<HistogramSnapshot> op_latency;      // per FuseOp
    uint64_t tier_moved = 0;                        // bytes moved by tiering, both ways
  };
  Sample take_sample() const;
  static nlohmann::json tiering_json(const TierStats& ts, const TierSettings& t, const Sample& now,
                                     const Sample* oldest);
  void schedule_next();
  nlohmann::json disks_json(const FsStats& s, const Sample* newest, const Sample* oldest) const;

  FileSystem& m_fs;
  FuseServer& m_fuse;
  ScrubService& m_scrub;
  DaemonSettings& m_settings;
  std::string m_mountpoint;
  std::string m_metrics_endpoint;
  std::chrono::steady_clock::time_point m_start;

  mutable std::mutex m_mutex;
  std::deque<Sample> m_samples;  // oldest first, at most kWindowSeconds + 1
  std::optional<boost::asio::steady_timer> m_timer;
};

}  // namespace dynamicfs

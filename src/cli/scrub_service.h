// ScrubService: runs the daemon's scrubs one at a time (a second request
// gets EBUSY), on request or periodically (the scrub_interval setting),
// keeps their progress and totals for status and metrics, and lets shutdown
// cancel a running scrub.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "src/fs/file_system.h"
#include "src/fs/scrubber.h"
#include "src/io/background_scheduler.h"

namespace dynamicfs {

struct ScrubProgress {
  bool running = false;
  uint64_t bytes_done = 0;      // of the running (or last) scrub
  uint64_t bytes_expected = 0;  // used space when it started
  uint64_t scrubs_total = 0;
  uint64_t periodic_interval = 0;  // seconds; 0 = off
  uint64_t bytes_total = 0;
  nlohmann::json last_report;  // null before the first scrub
  double fraction() const {
    if (bytes_expected == 0) return running ? 0.0 : 1.0;
    double f = static_cast<double>(bytes_done) / static_cast<double>(bytes_expected);
    return f > 1.0 ? 1.0 : f;
  }
};

class ScrubService {
 public:
  explicit ScrubService(FileSystem& fs) : m_fs(fs) {}
  ~ScrubService();

  // Periodic scrubs: `interval_seconds()` (0 = off) after the end of the
  // last scrub (or after the mount), a scrub at `rate()` bytes/s. Both are
  // read again whenever wake_periodic() is called and every second.
  void start_periodic(std::function<uint64_t()> interval_seconds, std::function<uint64_t()> rate);
  void wake_periodic();

  // Blocks until the scrub finishes; EBUSY if one is already running.
  Result<ScrubReport> run(uint64_t rate_bytes_per_sec);
  // Stops the periodic job and a running scrub; later scrubs are refused.
  void cancel();
  // Changes the rate of the running scrub (0 = unthrottled), if any.
  void set_rate(uint64_t rate_bytes_per_sec);
  ScrubProgress progress() const;

  static nlohmann::json report_json(const ScrubReport& r);

 private:
  FileSystem& m_fs;
  mutable std::mutex m_mutex;
  std::shared_ptr<Scrubber> m_active;
  bool m_cancelled = false;
  uint64_t m_expected = 0;
  uint64_t m_last_bytes = 0;
  uint64_t m_scrubs = 0;
  uint64_t m_bytes_total = 0;
  nlohmann::json m_last_report;

  // The periodic job's pass (every second and when woken): a scrub if one
  // is due.
  void periodic_pass();
  std::function<uint64_t()> m_interval;
  std::function<uint64_t()> m_rate;
  std::chrono::steady_clock::time_point m_last_end = std::chrono::steady_clock::now();
  // Last member: stopped (by cancel) before the rest goes.
  BackgroundScheduler m_jobs;
  BackgroundScheduler::JobId m_periodic = BackgroundScheduler::kNoJob;
};

}  // namespace dynamicfs

// ScrubService: runs the daemon's scrubs one at a time (a second request
// gets EBUSY), keeps their progress and totals for status and metrics, and
// lets shutdown cancel a running scrub.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "src/fs/file_system.h"
#include "src/fs/scrubber.h"

namespace dynamicfs {

struct ScrubProgress {
  bool running = false;
  uint64_t bytes_done = 0;      // of the running (or last) scrub
  uint64_t bytes_expected = 0;  // used space when it started
  uint64_t scrubs_total = 0;
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

  // Blocks until the scrub finishes; EBUSY if one is already running.
  Result<ScrubReport> run(uint64_t rate_bytes_per_sec);
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
};

}  // namespace dynamicfs

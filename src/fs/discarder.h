// Discarder: hands freed disk space back to the device. Space freed by the
// allocator (the last reference gone, the commit durable, no reader left)
// collects as "untrimmed"; this worker discards it in batches at Background
// priority a moment later, so an SSD or thin pool can reuse the blocks and a
// disk file's holes give them back to the file system under it. trim() does
// the same for all free space on demand, as fstrim(8) does. Discarding never
// races an allocation: claimed space is out of the free map until the
// device has answered.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>

#include "src/common/result.h"
#include "src/extent/allocator.h"
#include "src/extent/volume.h"
#include "src/io/background_scheduler.h"

namespace dynamicfs {

struct DiscardStats {
  bool enabled = true;
  uint64_t bytes = 0;        // discarded since mount (automatic and trim)
  uint64_t ops = 0;          // device discard calls
  uint64_t errors = 0;       // discard calls that failed for another reason
  uint64_t pending = 0;      // untrimmed bytes waiting (may include reused space)
  uint32_t unsupported = 0;  // disks that refused discard (EOPNOTSUPP)
};

struct TrimResult {
  uint64_t bytes = 0;  // bytes discarded
  uint32_t disks = 0;  // disks that took part
};

class Discarder {
 public:
  static constexpr uint64_t kBatchBytes = 64ull << 20;  // claimed at a time per disk
  static constexpr uint64_t kMinAutoBytes = 64 << 10;   // smaller freed pieces are not worth it
  static constexpr unsigned kDelayMs = 500;             // batching delay after a free

  // Automatic discards run as JOBS' "discard" job.
  Discarder(Volume& volume, Allocator& alloc, BackgroundScheduler& jobs, bool enabled);
  Discarder(const Discarder&) = delete;
  Discarder& operator=(const Discarder&) = delete;

  // Freed space is waiting (after a reclaim that returned space).
  void notify();
  // Live setting: automatic discard on or off (trim works either way).
  void set_enabled(bool on);
  bool enabled() const { return m_enabled.load(); }
  // Discards every free range of at least min_len on every disk now. EOPNOTSUPP
  // when no disk supports it.
  Result<TrimResult> trim(uint64_t min_len);
  // After JOBS has stopped (every claim is back in the free map): discards all untrimmed space now,
  // on the caller's thread (unmount), if automatic discard is on.
  void discard_untrimmed_now();
  DiscardStats stats() const;

 private:
  // Discards `ranges` of one disk (one Background job), returns them to the
  // free map and adds the bytes discarded to `*bytes` (if given).
  Status discard_claimed(uint32_t disk, const std::vector<DiskRange>& ranges, uint64_t* bytes);
  bool usable(uint32_t disk) const;
  // Discards every disk's untrimmed space in batches until none is left (or
  // `stop_early` says so).
  void drain_untrimmed(const std::function<bool()>& stop_early);
  // The discard job's pass: batches what was freed, then discards it.
  void pass();

  Volume& m_volume;
  Allocator& m_alloc;
  std::atomic<bool> m_enabled;
  std::array<std::atomic<bool>, Volume::kMaxDisks> m_unsupported{};
  std::atomic<uint64_t> m_bytes{0}, m_ops{0}, m_errors{0};
  BackgroundScheduler& m_jobs;
  BackgroundScheduler::JobId m_job = 0;
};

}  // namespace dynamicfs

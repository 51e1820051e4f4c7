// IoScheduler: the per-disk worker pool. Every disk read, write and sync goes
// through one so that metadata and foreground reads are served before writes
// and background work, and so that one slow disk cannot stall the others.
// Callers hand in a plain IoJob and wait for it; a full queue makes callers
// wait (backpressure), it never drops work.
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "src/common/status.h"
#include "src/io/disk.h"

namespace dynamicfs {

enum class IoClass : uint8_t { kCritical = 0, kHighRead, kNormalRead, kWrite, kBackground, kCount };

const char* io_class_name(IoClass c);

struct IoJob {
  enum class Op : uint8_t { kRead, kWrite, kSync };
  Op op = Op::kRead;
  IoClass cls = IoClass::kNormalRead;
  void* read_buf = nullptr;           // kRead
  const struct iovec* iov = nullptr;  // kWrite
  int iovcnt = 0;
  size_t len = 0;  // kRead
  uint64_t offset = 0;
  Status result;
};

struct IoSchedulerStats {
  std::array<uint64_t, static_cast<size_t>(IoClass::kCount)> queued{};
  std::array<uint64_t, static_cast<size_t>(IoClass::kCount)> ops{};
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

class IoScheduler {
 public:
  // workers == 0 picks a count from the device type.
  IoScheduler(const Disk& disk, unsigned workers = 0, size_t queue_capacity = 256);
  ~IoScheduler();
  IoScheduler(const IoScheduler&) = delete;
  IoScheduler& operator=(const IoScheduler&) = delete;

  // Queues the job and blocks until a worker has run it; returns its result.
  Status run(IoJob& job);

  Status read(void* buf, size_t len, uint64_t offset, IoClass cls);
  Status writev(const struct iovec* iov, int iovcnt, uint64_t offset,
                IoClass cls = IoClass::kWrite);
  Status sync(IoClass cls = IoClass::kCritical);

  IoSchedulerStats stats() const;
  unsigned worker_count() const { return static_cast<unsigned>(m_workers.size()); }

  // After this many dispatches the oldest queued job runs regardless of its
  // class, so Background work keeps moving under a foreground flood.
  static constexpr unsigned kAgingInterval = 8;

 private:
  struct Pending {
    IoJob* job;
    uint64_t seq;
    bool done = false;
  };
  void worker_loop();
  Pending* pick_locked();
  void execute(IoJob& job);

  const Disk& m_disk;
  size_t m_capacity;
  mutable std::mutex m_mutex;
  std::condition_variable m_work_cv;
  std::condition_variable m_done_cv;
  std::condition_variable m_space_cv;
  std::array<std::deque<Pending*>, static_cast<size_t>(IoClass::kCount)> m_queues;
  size_t m_queued = 0;
  size_t m_inflight = 0;  // jobs executing (by workers or inline)
  uint64_t m_inline = 0;  // jobs run in the caller's thread
  uint64_t m_seq = 0;
  uint64_t m_dispatches = 0;
  bool m_stopping = false;
  IoSchedulerStats m_stats;
  std::vector<std::thread> m_workers;
};

}  // namespace dynamicfs

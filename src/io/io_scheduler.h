// IoScheduler: the per-disk worker pool. Every disk read, write and sync goes
// through one so that metadata and foreground reads are served before writes
// and background work, and so that one slow disk cannot stall the others.
// Callers hand in a plain IoJob and wait for it; a full queue makes callers
// wait (backpressure), it never drops work. Queued writes to adjacent disk
// ranges are merged into one pwritev.
#pragma once

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "src/common/status.h"
#include "src/io/disk.h"

namespace dynamicfs {

enum class IoClass : uint8_t { kCritical = 0, kHighRead, kNormalRead, kWrite, kBackground, kCount };
constexpr size_t kIoClassCount = static_cast<size_t>(IoClass::kCount);

const char* io_class_name(IoClass c);

struct IoJob {
  enum class Op : uint8_t { kRead, kWrite, kSync, kCall };
  Op op = Op::kRead;
  IoClass cls = IoClass::kNormalRead;
  void* read_buf = nullptr;           // kRead
  const struct iovec* iov = nullptr;  // kWrite
  int iovcnt = 0;
  size_t len = 0;  // kRead
  uint64_t offset = 0;
  std::function<Status(const Disk&)> call;  // kCall: runs on a worker
  Status result;

  uint64_t write_length() const;
};

struct IoSchedulerStats {
  std::array<uint64_t, kIoClassCount> queued{};  // io_queue_length{class}
  std::array<uint64_t, kIoClassCount> ops{};     // io_ops_total{class}
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t coalesced_writes = 0;  // writes merged into another write's pwritev
  uint64_t inline_jobs = 0;       // jobs run in the caller's thread (idle queue)
  unsigned live_workers = 0;      // worker threads running now (follows set_workers)
};

class IoScheduler {
 public:
  // workers == 0 picks a count from the device type.
  explicit IoScheduler(const Disk& disk, unsigned workers = 0, size_t queue_capacity = 256);
  ~IoScheduler();
  IoScheduler(const IoScheduler&) = delete;
  IoScheduler& operator=(const IoScheduler&) = delete;

  // Queues the job and blocks until it has run; returns its result.
  Status run(IoJob& job);

  // Runs one job on each of several schedulers at the same time and waits
  // for all of them (the copies of a replicated write); each job's result
  // is in its `result`.
  static void run_parallel(const std::vector<std::pair<IoScheduler*, IoJob*>>& jobs);

  // Jobs queued or running now: how busy the disk is (replica choice).
  size_t load() const { return m_load.load(std::memory_order_relaxed); }

  Status read(void* buf, size_t len, uint64_t offset, IoClass cls);
  Status writev(const struct iovec* iov, int iovcnt, uint64_t offset,
                IoClass cls = IoClass::kWrite);
  Status sync(IoClass cls = IoClass::kCritical);

  // Changes the number of workers at run time (0 = from the device type).
  void set_workers(unsigned workers);
  unsigned worker_count() const;
  static unsigned default_workers(const Disk& disk) { return disk.rotational() ? 2 : 4; }

  IoSchedulerStats stats() const;

  // After this many dispatches the oldest queued job runs regardless of its
  // class, so Background work keeps moving under a foreground flood.
  static constexpr unsigned kAgingInterval = 8;
  // Limits of one merged pwritev.
  static constexpr size_t kMaxCoalescedBytes = 8u << 20;
  static constexpr size_t kMaxCoalescedIov = 512;

 private:
  struct Pending {
    IoJob* job;
    uint64_t seq;
    // Set and notified under m_mutex; its waiter alone sleeps on it (a
    // shared condition variable woke every waiter of the disk per job).
    std::atomic<bool> done{false};
  };
  // Queues `p` (waiting for space if the queue is full); false if stopping.
  bool enqueue(Pending& p);
  void wait_done(Pending& p);
  void worker_loop();
  Pending* pick_locked();
  // Removes queued writes adjacent to `first` from its class queue.
  std::vector<Pending*> gather_adjacent_locked(Pending* first);
  void execute(IoJob& job);
  void execute_merged(const std::vector<Pending*>& group);
  void spawn_locked(unsigned count);

  const Disk& m_disk;
  size_t m_capacity;
  mutable std::mutex m_mutex;
  std::condition_variable m_work_cv;
  std::condition_variable m_space_cv;
  std::array<std::deque<Pending*>, kIoClassCount> m_queues;
  size_t m_queued = 0;
  size_t m_inflight = 0;  // jobs executing (by workers or inline)
  unsigned m_target_workers = 0;
  unsigned m_live_workers = 0;
  uint64_t m_seq = 0;
  uint64_t m_dispatches = 0;
  bool m_stopping = false;
  IoSchedulerStats m_stats;  // bytes_* are kept in the atomics below
  // Counted after every I/O without taking m_mutex.
  std::atomic<uint64_t> m_bytes_read{0};
  std::atomic<uint64_t> m_bytes_written{0};
  std::atomic<size_t> m_load{0};
  std::vector<std::thread> m_threads;
};

}  // namespace dynamicfs

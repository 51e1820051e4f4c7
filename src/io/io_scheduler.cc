// IoScheduler: strict priority between classes with periodic aging, a bounded
// queue, and synchronous completion for the caller.
#include "src/io/io_scheduler.h"

namespace dynamicfs {

const char* io_class_name(IoClass c) {
  switch (c) {
    case IoClass::kCritical:
      return "critical";
    case IoClass::kHighRead:
      return "high_read";
    case IoClass::kNormalRead:
      return "normal_read";
    case IoClass::kWrite:
      return "write";
    case IoClass::kBackground:
      return "background";
    default:
      return "unknown";
  }
}

IoScheduler::IoScheduler(const Disk& disk, unsigned workers, size_t queue_capacity)
    : m_disk(disk), m_capacity(queue_capacity == 0 ? 1 : queue_capacity) {
  if (workers == 0) workers = disk.rotational() ? 2 : 4;
  for (unsigned i = 0; i < workers; ++i) m_workers.emplace_back([this] { worker_loop(); });
}

IoScheduler::~IoScheduler() {
  {
    std::lock_guard lk(m_mutex);
    m_stopping = true;
  }
  m_work_cv.notify_all();
  for (auto& t : m_workers) t.join();
}

Status IoScheduler::run(IoJob& job) {
  Pending pending{&job, 0};
  std::unique_lock lk(m_mutex);
  if (m_queued == 0 && m_inflight < m_workers.size() && !m_stopping) {
    // Fast path: nothing is waiting, so there is nothing to prioritise
    // against; run in the caller's thread and skip two thread hand-offs. The
    // job still occupies one of the disk's worker slots.
    ++m_inflight;
    lk.unlock();
    execute(job);
    lk.lock();
    --m_inflight;
    ++m_stats.ops[static_cast<size_t>(job.cls)];
    ++m_inline;
    if (m_queued > 0) m_work_cv.notify_one();
    return job.result;
  }
  m_space_cv.wait(lk, [&] { return m_queued < m_capacity || m_stopping; });
  if (m_stopping)
    return Status::error(ESHUTDOWN, "I/O scheduler of " + m_disk.path() + " is stopping");
  pending.seq = m_seq++;
  m_queues[static_cast<size_t>(job.cls)].push_back(&pending);
  ++m_queued;
  ++m_stats.queued[static_cast<size_t>(job.cls)];
  m_work_cv.notify_one();
  m_done_cv.wait(lk, [&] { return pending.done; });
  return job.result;
}

IoScheduler::Pending* IoScheduler::pick_locked() {
  ++m_dispatches;
  size_t chosen = m_queues.size();
  if (m_dispatches % kAgingInterval == 0) {
    // Aging: the oldest job of any class.
    uint64_t oldest = UINT64_MAX;
    for (size_t c = 0; c < m_queues.size(); ++c) {
      if (!m_queues[c].empty() && m_queues[c].front()->seq < oldest) {
        oldest = m_queues[c].front()->seq;
        chosen = c;
      }
    }
  } else {
    for (size_t c = 0; c < m_queues.size(); ++c) {
      if (!m_queues[c].empty()) {
        chosen = c;
        break;
      }
    }
  }
  if (chosen == m_queues.size()) return nullptr;
  Pending* p = m_queues[chosen].front();
  m_queues[chosen].pop_front();
  --m_queued;
  --m_stats.queued[chosen];
  return p;
}

void IoScheduler::worker_loop() {
  std::unique_lock lk(m_mutex);
  for (;;) {
    m_work_cv.wait(lk,
                   [&] { return (m_queued > 0 && m_inflight < m_workers.size()) || m_stopping; });
    if (m_queued == 0 && m_stopping) return;
    Pending* p = pick_locked();
    if (p == nullptr) continue;
    m_space_cv.notify_one();
    ++m_inflight;
    lk.unlock();
    execute(*p->job);
    lk.lock();
    --m_inflight;
    if (m_queued > 0) m_work_cv.notify_one();
    ++m_stats.ops[static_cast<size_t>(p->job->cls)];
    p->done = true;
    m_done_cv.notify_all();
  }
}

void IoScheduler::execute(IoJob& job) {
  switch (job.op) {
    case IoJob::Op::kRead:
      job.result = m_disk.read_at(job.read_buf, job.len, job.offset);
      if (job.result.is_ok()) {
        std::lock_guard lk(m_mutex);
        m_stats.bytes_read += job.len;
      }
      break;
    case IoJob::Op::kWrite: {
      job.result = m_disk.writev_at(job.iov, job.iovcnt, job.offset);
      if (job.result.is_ok()) {
        size_t total = 0;
        for (int i = 0; i < job.iovcnt; ++i) total += job.iov[i].iov_len;
        std::lock_guard lk(m_mutex);
        m_stats.bytes_written += total;
      }
      break;
    }
    case IoJob::Op::kSync:
      job.result = m_disk.sync();
      break;
  }
}

Status IoScheduler::read(void* buf, size_t len, uint64_t offset, IoClass cls) {
  IoJob job;
  job.op = IoJob::Op::kRead;
  job.cls = cls;
  job.read_buf = buf;
  job.len = len;
  job.offset = offset;
  return run(job);
}

Status IoScheduler::writev(const struct iovec* iov, int iovcnt, uint64_t offset, IoClass cls) {
  IoJob job;
  job.op = IoJob::Op::kWrite;
  job.cls = cls;
  job.iov = iov;
  job.iovcnt = iovcnt;
  job.offset = offset;
  return run(job);
}

Status IoScheduler::sync(IoClass cls) {
  IoJob job;
  job.op = IoJob::Op::kSync;
  job.cls = cls;
  return run(job);
}

IoSchedulerStats IoScheduler::stats() const {
  std::lock_guard lk(m_mutex);
  return m_stats;
}

}  // namespace dynamicfs

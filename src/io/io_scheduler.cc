// IoScheduler: strict priority between classes with periodic aging, a bounded
// queue, write coalescing, and synchronous completion for the caller.
#include "src/io/io_scheduler.h"

#include <pthread.h>

#include <algorithm>

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

uint64_t IoJob::write_length() const {
  uint64_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  return total;
}

IoScheduler::IoScheduler(const Disk& disk, unsigned workers, size_t queue_capacity)
    : m_disk(disk), m_capacity(queue_capacity == 0 ? 1 : queue_capacity) {
  std::lock_guard lk(m_mutex);
  m_target_workers = workers == 0 ? default_workers(disk) : workers;
  spawn_locked(m_target_workers);
}

IoScheduler::~IoScheduler() {
  {
    std::lock_guard lk(m_mutex);
    m_stopping = true;
  }
  m_work_cv.notify_all();
  m_space_cv.notify_all();
  for (auto& t : m_threads) t.join();
}

void IoScheduler::spawn_locked(unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    ++m_live_workers;
    m_threads.emplace_back([this] { worker_loop(); });
  }
}

void IoScheduler::set_workers(unsigned workers) {
  std::lock_guard lk(m_mutex);
  m_target_workers = workers == 0 ? default_workers(m_disk) : workers;
  if (m_live_workers < m_target_workers) spawn_locked(m_target_workers - m_live_workers);
  m_work_cv.notify_all();  // surplus workers notice and exit
}

unsigned IoScheduler::worker_count() const {
  std::lock_guard lk(m_mutex);
  return m_target_workers;
}

Status IoScheduler::run(IoJob& job) {
  struct LoadCount {
    std::atomic<size_t>& n;
    explicit LoadCount(std::atomic<size_t>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
    ~LoadCount() { n.fetch_sub(1, std::memory_order_relaxed); }
  } counted(m_load);
  Pending pending{&job, 0};
  {
    std::unique_lock lk(m_mutex);
    if (m_queued == 0 && m_inflight < m_target_workers && !m_stopping) {
      // Fast path: nothing is waiting, so there is nothing to prioritise or
      // merge; run in the caller's thread and skip two thread hand-offs. The
      // job still occupies one of the disk's worker slots.
      ++m_inflight;
      ++m_stats.inline_jobs;
      lk.unlock();
      execute(job);
      lk.lock();
      --m_inflight;
      ++m_stats.ops[static_cast<size_t>(job.cls)];
      if (m_queued > 0) m_work_cv.notify_one();
      return job.result;
    }
  }
  if (!enqueue(pending)) return job.result;
  wait_done(pending);
  return job.result;
}

bool IoScheduler::enqueue(Pending& pending) {
  std::unique_lock lk(m_mutex);
  m_space_cv.wait(lk, [&] { return m_queued < m_capacity || m_stopping; });
  if (m_stopping) {
    pending.job->result =
        Status::error(ESHUTDOWN, "I/O scheduler of " + m_disk.path() + " is stopping");
    pending.done = true;
    return false;
  }
  pending.seq = m_seq++;
  m_queues[static_cast<size_t>(pending.job->cls)].push_back(&pending);
  ++m_queued;
  ++m_stats.queued[static_cast<size_t>(pending.job->cls)];
  m_work_cv.notify_one();
  return true;
}

void IoScheduler::wait_done(Pending& pending) {
  while (!pending.done.load(std::memory_order_acquire)) pending.done.wait(false);
  // The worker sets and notifies under the mutex: once we hold it, it is
  // done with `pending`, which dies when we return.
  std::lock_guard lk(m_mutex);
}

void IoScheduler::run_parallel(const std::vector<std::pair<IoScheduler*, IoJob*>>& jobs) {
  if (jobs.empty()) return;
  // All but the last go to their disks' workers; the caller runs the last
  // one itself, then waits for the others.
  std::vector<Pending> pending(jobs.size() - 1);
  for (size_t i = 0; i + 1 < jobs.size(); ++i) {
    jobs[i].first->m_load.fetch_add(1, std::memory_order_relaxed);
    pending[i].job = jobs[i].second;
    jobs[i].first->enqueue(pending[i]);
  }
  (void)jobs.back().first->run(*jobs.back().second);  // the status stays in job.result
  for (size_t i = 0; i + 1 < jobs.size(); ++i) {
    jobs[i].first->wait_done(pending[i]);
    jobs[i].first->m_load.fetch_sub(1, std::memory_order_relaxed);
  }
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

std::vector<IoScheduler::Pending*> IoScheduler::gather_adjacent_locked(Pending* first) {
  std::vector<Pending*> group{first};
  if (first->job->op != IoJob::Op::kWrite) return group;
  auto& q = m_queues[static_cast<size_t>(first->job->cls)];
  uint64_t start = first->job->offset;
  uint64_t end = start + first->job->write_length();
  size_t iovs = static_cast<size_t>(first->job->iovcnt);
  bool grew = true;
  while (grew) {
    grew = false;
    for (auto it = q.begin(); it != q.end(); ++it) {
      IoJob* j = (*it)->job;
      if (j->op != IoJob::Op::kWrite) continue;
      uint64_t len = j->write_length();
      bool after = j->offset == end, before = j->offset + len == start;
      if (!after && !before) continue;
      if (end - start + len > kMaxCoalescedBytes ||
          iovs + static_cast<size_t>(j->iovcnt) > kMaxCoalescedIov)
        continue;
      if (after) {
        group.push_back(*it);
        end += len;
      } else {
        group.insert(group.begin(), *it);
        start = j->offset;
      }
      iovs += static_cast<size_t>(j->iovcnt);
      q.erase(it);
      --m_queued;
      --m_stats.queued[static_cast<size_t>(first->job->cls)];
      grew = true;
      break;
    }
  }
  return group;
}

void IoScheduler::worker_loop() {
  // Named so operators (and tests) can count a disk pool's threads in top or
  // /proc/PID/task/*/comm.
  ::pthread_setname_np(::pthread_self(), "dfs-io");
  std::unique_lock lk(m_mutex);
  for (;;) {
    m_work_cv.wait(lk, [&] {
      return m_stopping || m_live_workers > m_target_workers ||
             (m_queued > 0 && m_inflight < m_target_workers);
    });
    if (m_live_workers > m_target_workers && !(m_stopping && m_queued > 0)) {
      --m_live_workers;
      return;
    }
    if (m_queued == 0) {
      if (m_stopping) {
        --m_live_workers;
        return;
      }
      continue;
    }
    Pending* p = pick_locked();
    if (p == nullptr) continue;
    std::vector<Pending*> group = gather_adjacent_locked(p);
    m_space_cv.notify_all();
    ++m_inflight;
    lk.unlock();
    if (group.size() == 1) {
      execute(*p->job);
    } else {
      execute_merged(group);
    }
    lk.lock();
    --m_inflight;
    m_stats.coalesced_writes += group.size() - 1;
    for (Pending* g : group) {
      ++m_stats.ops[static_cast<size_t>(g->job->cls)];
      g->done.store(true, std::memory_order_release);
      g->done.notify_one();
    }
    if (m_queued > 0) m_work_cv.notify_one();
  }
}

void IoScheduler::execute_merged(const std::vector<Pending*>& group) {
  std::vector<iovec> iov;
  uint64_t total = 0;
  for (Pending* g : group) {
    iov.insert(iov.end(), g->job->iov, g->job->iov + g->job->iovcnt);
    total += g->job->write_length();
  }
  Status st =
      m_disk.writev_at(iov.data(), static_cast<int>(iov.size()), group.front()->job->offset);
  for (Pending* g : group) g->job->result = st;
  if (st.is_ok()) m_bytes_written.fetch_add(total, std::memory_order_relaxed);
}

void IoScheduler::execute(IoJob& job) {
  switch (job.op) {
    case IoJob::Op::kRead:
      job.result = m_disk.read_at(job.read_buf, job.len, job.offset);
      if (job.result.is_ok()) m_bytes_read.fetch_add(job.len, std::memory_order_relaxed);
      break;
    case IoJob::Op::kWrite:
      job.result = m_disk.writev_at(job.iov, job.iovcnt, job.offset);
      if (job.result.is_ok())
        m_bytes_written.fetch_add(job.write_length(), std::memory_order_relaxed);
      break;
    case IoJob::Op::kSync:
      job.result = m_disk.sync();
      break;
    case IoJob::Op::kCall:
      job.result = job.call ? job.call(m_disk) : Status::error(EINVAL, "empty I/O call");
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
  IoSchedulerStats out;
  {
    std::lock_guard lk(m_mutex);
    out = m_stats;
    out.live_workers = m_live_workers;
  }
  out.bytes_read = m_bytes_read.load(std::memory_order_relaxed);
  out.bytes_written = m_bytes_written.load(std::memory_order_relaxed);
  return out;
}

}  // namespace dynamicfs

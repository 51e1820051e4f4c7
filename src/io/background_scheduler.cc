// BackgroundScheduler: one thread per job, woken by wake(), its period or stop().
#include "src/io/background_scheduler.h"

#include <pthread.h>

namespace dynamicfs {

BackgroundScheduler::JobId BackgroundScheduler::start(Job job) {
  auto s = std::make_unique<State>();
  s->job = std::move(job);
  State* raw = s.get();
  std::lock_guard lk(m_mutex);
  raw->stop = stopping();
  m_jobs.push_back(std::move(s));
  raw->thread = std::thread([this, raw] { run(raw); });
  return m_jobs.size() - 1;
}

void BackgroundScheduler::wake(JobId job) {
  signal(job, &State::woken);
}

void BackgroundScheduler::reschedule(JobId job) {
  signal(job, &State::rearm);
}

void BackgroundScheduler::signal(JobId job, bool State::*flag) {
  State* s = nullptr;
  {
    std::lock_guard lk(m_mutex);
    if (job >= m_jobs.size()) return;
    s = m_jobs[job].get();
  }
  {
    std::lock_guard lk(s->mutex);
    s->*flag = true;
  }
  s->cv.notify_one();
}

bool BackgroundScheduler::wait_for_stop(std::chrono::milliseconds d) {
  std::unique_lock lk(m_mutex);
  return m_stop_cv.wait_for(lk, d, [&] { return stopping(); });
}

void BackgroundScheduler::run(State* s) {
  // Thread names are at most 15 characters.
  const std::string name = ("dfs-" + s->job.name).substr(0, 15);
  ::pthread_setname_np(::pthread_self(), name.c_str());
  for (;;) {
    // Asked outside the job's mutex: a period may read settings under locks
    // of its own.
    const auto period = s->job.period ? s->job.period() : std::chrono::milliseconds(0);
    bool run_pass = false;
    {
      std::unique_lock lk(s->mutex);
      auto due = [&] { return s->woken || s->rearm || s->stop; };
      bool signalled = true;
      if (period.count() > 0) {
        signalled = s->cv.wait_for(lk, period, due);
      } else {
        s->cv.wait(lk, due);
      }
      if (s->stop) break;
      run_pass = !signalled || s->woken;  // the period passed, or wake()
      s->woken = s->rearm = false;
    }
    if (!run_pass || stopping()) continue;  // rescheduled, or waiting for its turn to stop
    s->job.pass();
    s->passes.fetch_add(1, std::memory_order_relaxed);
  }
  if (s->job.finish) s->job.finish();
}

void BackgroundScheduler::stop() {
  {
    std::lock_guard lk(m_mutex);
    m_stopping.store(true, std::memory_order_release);
  }
  m_stop_cv.notify_all();
  std::vector<State*> jobs;
  {
    std::lock_guard lk(m_mutex);
    for (auto& s : m_jobs) jobs.push_back(s.get());
  }
  // Last started, first stopped: a job may rely on those started before it
  // (a repair queue drains after the passes that fill it have ended).
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
    State* s = *it;
    {
      std::lock_guard lk(s->mutex);  // no job misses its flag between check and wait
      s->stop = true;
    }
    s->cv.notify_all();
    if (s->thread.joinable()) s->thread.join();
  }
}

std::vector<BackgroundScheduler::JobStats> BackgroundScheduler::stats() const {
  std::lock_guard lk(m_mutex);
  std::vector<JobStats> out;
  for (const auto& s : m_jobs) out.push_back(JobStats{s->job.name, s->passes.load()});
  return out;
}

}  // namespace dynamicfs

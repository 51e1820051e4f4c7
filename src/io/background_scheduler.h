// BackgroundScheduler: the one way dynamicfs runs background work (syncs,
// tiering, policy conversion, snapshot space release, discards, repairs).
// A job is a name, an optional period and a pass (its disk I/O names its
// own IoClass, Background for all but the periodic sync). Each job has its own thread, so a long
// pass of one never delays another; a job runs a pass when woken or when its period has passed. All
// jobs stop one way: stop() tells every pass to end early (stopping()), then stops the jobs in the
// reverse order of their start, running each job's `finish` (drain what must not be dropped) last.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dynamicfs {

class BackgroundScheduler {
 public:
  struct Job {
    std::string name;  // the thread is "dfs-NAME"
    // Time between passes, asked again before every wait (live settings);
    // unset or zero: a pass only when woken.
    std::function<std::chrono::milliseconds()> period;
    std::function<void()> pass;
    // Runs once on the job's thread when it stops, after its last pass.
    std::function<void()> finish;
  };
  struct JobStats {
    std::string name;
    uint64_t passes = 0;
  };
  using JobId = size_t;
  static constexpr JobId kNoJob = static_cast<JobId>(-1);  // wake() ignores it

  BackgroundScheduler() = default;
  ~BackgroundScheduler() { stop(); }
  BackgroundScheduler(const BackgroundScheduler&) = delete;
  BackgroundScheduler& operator=(const BackgroundScheduler&) = delete;

  // Starts JOB's thread. Jobs started after stop() never run a pass (their
  // finish runs at once).
  JobId start(Job job);
  // JOB runs a pass soon (at once if idle; after the running pass if not).
  void wake(JobId job);
  // JOB asks its period again now (a changed setting), without a pass.
  void reschedule(JobId job);
  // True once stop() has begun: passes return early.
  bool stopping() const { return m_stopping.load(std::memory_order_acquire); }
  // Sleeps up to D inside a pass; true if stop() began meanwhile.
  bool wait_for_stop(std::chrono::milliseconds d);
  // Stops every job (see above) and waits for them. Idempotent.
  void stop();
  std::vector<JobStats> stats() const;

 private:
  struct State {
    Job job;
    std::mutex mutex;
    std::condition_variable cv;
    bool woken = false;
    bool rearm = false;
    bool stop = false;  // this job's turn to stop has come
    std::atomic<uint64_t> passes{0};
    std::thread thread;
  };
  void run(State* s);
  void signal(JobId job, bool State::*flag);

  std::atomic<bool> m_stopping{false};
  mutable std::mutex m_mutex;  // guards m_jobs and the stop wait
  std::condition_variable m_stop_cv;
  std::vector<std::unique_ptr<State>> m_jobs;
};

}  // namespace dynamicfs

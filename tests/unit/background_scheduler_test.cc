// BackgroundScheduler and JobQueue: jobs run when woken and when their
// period passes, passes see stop() at once, jobs stop last-started-first
// with their finish step, and a queue's drain waits for the work to be done.
#include "src/io/background_scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/io/job_queue.h"

using namespace dynamicfs;
using namespace std::chrono_literals;

namespace {

// A bound on waits that should end at once, so a bug hangs no CI run; the
// tests assert order and counts, never durations.
constexpr auto kHang = 60s;

// Counts events and lets a test wait for the n-th.
class Counter {
 public:
  void bump() {
    {
      std::lock_guard lk(m_mutex);
      ++m_n;
    }
    m_cv.notify_all();
  }
  bool wait_for_at_least(int n) {
    std::unique_lock lk(m_mutex);
    return m_cv.wait_for(lk, kHang, [&] { return m_n >= n; });
  }
  int value() {
    std::lock_guard lk(m_mutex);
    return m_n;
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  int m_n = 0;
};

}  // namespace

TEST(BackgroundScheduler, WakeRunsOnePassOfThatJobOnly) {
  BackgroundScheduler jobs;
  Counter a, b;
  auto ida = jobs.start({"a", nullptr, [&] { a.bump(); }, nullptr});
  auto idb = jobs.start({"b", nullptr, [&] { b.bump(); }, nullptr});
  jobs.wake(ida);
  ASSERT_TRUE(a.wait_for_at_least(1));
  jobs.wake(BackgroundScheduler::kNoJob);  // ignored
  jobs.stop();
  EXPECT_EQ(a.value(), 1);
  EXPECT_EQ(b.value(), 0);  // never woken, no period
  auto stats = jobs.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "a");
  EXPECT_EQ(stats[0].passes, 1u);
  EXPECT_EQ(stats[1].name, "b");
  EXPECT_EQ(stats[1].passes, 0u);
  (void)idb;
}

TEST(BackgroundScheduler, PeriodicJobRunsWithoutWakeAndRereadsItsPeriod) {
  BackgroundScheduler jobs;
  Counter passes, asked;
  BackgroundScheduler::Job job;
  job.name = "tick";
  job.period = [&] {
    asked.bump();
    return 1ms;
  };
  job.pass = [&] { passes.bump(); };
  jobs.start(std::move(job));
  ASSERT_TRUE(passes.wait_for_at_least(3));
  jobs.stop();
  EXPECT_GE(asked.value(), 3);  // once before every wait
}

TEST(BackgroundScheduler, RescheduleRereadsThePeriodWithoutAPass) {
  BackgroundScheduler jobs;
  Counter passes, asked;
  std::atomic<int64_t> period_ms{3600 * 1000};
  BackgroundScheduler::Job job;
  job.name = "resched";
  job.period = [&] {
    asked.bump();
    return std::chrono::milliseconds(period_ms.load());
  };
  job.pass = [&] { passes.bump(); };
  auto id = jobs.start(std::move(job));
  ASSERT_TRUE(asked.wait_for_at_least(1));
  jobs.reschedule(id);
  ASSERT_TRUE(asked.wait_for_at_least(2));  // asked again...
  EXPECT_EQ(passes.value(), 0);             // ...and no pass for it
  period_ms = 1;
  jobs.reschedule(id);
  ASSERT_TRUE(passes.wait_for_at_least(2));  // the new period is in force
  jobs.stop();
}

TEST(BackgroundScheduler, StopEndsPassesAndFinishesLastStartedFirst) {
  BackgroundScheduler jobs;
  std::mutex order_mutex;
  std::vector<std::string> order;
  auto note = [&](std::string what) {
    std::lock_guard lk(order_mutex);
    order.push_back(std::move(what));
  };
  std::promise<void> in_pass;
  std::promise<bool> saw_stop;
  BackgroundScheduler::Job first;
  first.name = "first";
  first.pass = [&] {
    in_pass.set_value();
    saw_stop.set_value(jobs.wait_for_stop(std::chrono::hours(1)));
  };
  first.finish = [&] { note("first"); };
  auto id = jobs.start(std::move(first));
  jobs.start({"second", nullptr, [] {}, [&] { note("second"); }});
  jobs.wake(id);
  ASSERT_EQ(in_pass.get_future().wait_for(kHang), std::future_status::ready);
  auto stopped = saw_stop.get_future();
  jobs.stop();
  ASSERT_EQ(stopped.wait_for(0s), std::future_status::ready);  // stop() waited for the pass
  EXPECT_TRUE(stopped.get());
  EXPECT_TRUE(jobs.stopping());
  EXPECT_EQ(order, (std::vector<std::string>{"second", "first"}));
  jobs.stop();  // idempotent
}

TEST(BackgroundScheduler, JobStartedAfterStopOnlyFinishes) {
  BackgroundScheduler jobs;
  jobs.stop();
  Counter passes, finished;
  auto id =
      jobs.start({"late", [] { return 1ms; }, [&] { passes.bump(); }, [&] { finished.bump(); }});
  jobs.wake(id);
  ASSERT_TRUE(finished.wait_for_at_least(1));
  jobs.stop();
  EXPECT_EQ(passes.value(), 0);
}

TEST(JobQueue, PendingCountsItemsUntilDoneAndDrainWaitsForThem) {
  JobQueue<int> q;
  EXPECT_TRUE(q.push(1));
  EXPECT_TRUE(q.push(2, /*max=*/2));
  EXPECT_FALSE(q.push(3, /*max=*/2));  // full
  EXPECT_EQ(q.pending(), 2u);
  auto one = q.take();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(*one, 1);
  EXPECT_EQ(q.pending(), 2u);  // taken but not done
  std::promise<void> drained;
  std::thread waiter([&] {
    q.drain();
    drained.set_value();
  });
  auto f = drained.get_future();
  q.done();
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_EQ(f.wait_for(0s), std::future_status::timeout);  // item 2 is still queued
  auto two = q.take();
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(*two, 2);
  q.done();
  EXPECT_EQ(f.wait_for(kHang), std::future_status::ready);
  waiter.join();
  EXPECT_FALSE(q.take().has_value());
  q.close();
  EXPECT_FALSE(q.push(4));
  EXPECT_EQ(q.pending(), 0u);
}

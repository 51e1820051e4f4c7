// CoalescedSync: concurrent durability requests share syncs, and nobody
// returns before a sync that started after its request has finished.
#include "src/common/coalesced_sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace dynamicfs;

TEST(CoalescedSync, ManyWaitersFewSyncs) {
  CoalescedSync s;
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> durable{0};
  std::atomic<bool> violated{false};
  auto do_sync = [&] {
    uint64_t w = writes.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow device, not an assertion
    durable = w;
    return Status::ok();
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < 32; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        uint64_t mine = ++writes;
        ASSERT_TRUE(s.sync(do_sync).is_ok());
        if (durable.load() < mine) violated = true;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_FALSE(violated) << "a caller returned before its write was covered by a sync";
  EXPECT_EQ(s.requests(), 640u);
  // Timing decides how many callers share each sync; with 32 callers and a
  // 2 ms device, not sharing at all would take 640 syncs.
  EXPECT_LT(s.syncs(), 640u) << "syncs were not shared";
}

TEST(CoalescedSync, ErrorsReachTheCallersTheyCover) {
  CoalescedSync s;
  Status st = s.sync([] { return Status::error(EIO, "disk gone"); });
  EXPECT_EQ(st.err(), EIO);
  EXPECT_TRUE(s.sync([] { return Status::ok(); }).is_ok());
}

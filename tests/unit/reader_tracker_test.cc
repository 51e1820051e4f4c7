// ReaderTracker: the oldest active pin bounds reclamation; pins release on
// scope exit; frees tagged after a reader entered wait for that reader.
#include "src/extent/reader_tracker.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace dynamicfs;

TEST(ReaderTracker, OldestActiveFollowsPins) {
  ReaderTracker t;
  EXPECT_EQ(t.oldest_active(), UINT64_MAX);
  auto a = t.enter();
  uint64_t tag = t.tag_free();
  EXPECT_LT(a.ticket(), tag);
  EXPECT_LE(t.oldest_active(), a.ticket());  // a free tagged now must wait for `a`
  {
    auto b = t.enter();
    EXPECT_EQ(t.active(), 2u);
  }
  EXPECT_EQ(t.active(), 1u);
  a.release();
  EXPECT_EQ(t.oldest_active(), UINT64_MAX);
  auto c = t.enter();
  EXPECT_GT(c.ticket(), tag);  // readers after the free never block it
}

TEST(ReaderTracker, ConcurrentPinsAllRelease) {
  ReaderTracker t;
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      for (int j = 0; j < 10000; ++j) {
        auto p = t.enter();
        if (j % 100 == 0) (void)t.oldest_active();
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(t.active(), 0u);
}

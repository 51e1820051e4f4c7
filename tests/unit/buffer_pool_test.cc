// BufferPool on its own: crossing the high watermark pauses writers and
// falling below the low one wakes the observer exactly once.
#include "tests/unit/raw_disk_io_fixture.h"

using namespace dynamicfs;
using namespace dynamicfs::raw_disk_io_test;

// ---------------------------------------------------------------- BufferPool
TEST(BufferPool, WatermarksWakeTheObserverOnce) {
  BufferPool pool(16);
  EXPECT_EQ(pool.limit(), 16u);
  auto observer = std::make_shared<Observer>();
  std::vector<char*> bufs;
  for (int i = 0; i < 15; ++i) bufs.push_back(pool.allocate());
  EXPECT_FALSE(pool.over_limit(observer));
  bufs.push_back(pool.allocate());
  EXPECT_EQ(pool.in_use(), 16u);
  EXPECT_TRUE(pool.over_limit(observer));
  bufs.push_back(pool.allocate());
  EXPECT_TRUE(pool.over_limit(nullptr));
  // Buffers are usable (aligned, a full block each).
  for (char* b : bufs) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 4096, 0u);
    std::memset(b, 0x5a, BufferPool::kBlockSize);
  }

  int woken = 0;
  while (!bufs.empty()) {
    char* b = bufs.back();
    bufs.pop_back();
    auto wake = pool.release(b);
    if (pool.in_use() > 8) {
      EXPECT_TRUE(wake.empty()) << pool.in_use();
    } else if (pool.in_use() == 8) {
      ASSERT_EQ(wake.size(), 1u);
      EXPECT_EQ(wake[0].lock(), observer);
      ++woken;
    } else {
      EXPECT_TRUE(wake.empty()) << pool.in_use();
    }
  }
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_FALSE(pool.over_limit(observer));
  EXPECT_TRUE(pool.release(nullptr).empty());

  // Recycled buffers count again; the limit never drops below 16.
  pool.set_limit(4);
  EXPECT_EQ(pool.limit(), 16u);
  pool.set_limit(64);
  EXPECT_EQ(pool.limit(), 64u);
  char* b = pool.allocate();
  EXPECT_EQ(pool.in_use(), 1u);
  EXPECT_FALSE(pool.over_limit(observer));
  EXPECT_TRUE(pool.release(b).empty());
}

TEST(BufferPool, NoWakeWithoutAPause) {
  BufferPool pool(16);
  std::vector<char*> bufs;
  for (int i = 0; i < 10; ++i) bufs.push_back(pool.allocate());
  for (char* b : bufs) EXPECT_TRUE(pool.release(b).empty());
}

// Small parts of FileSystem on their own: OpenFileTable counts handles per
// inode and reports the last close once; AccessTracker keeps the last read
// of each file and of any file.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "src/fs/access_tracker.h"
#include "src/fs/open_file_table.h"

using namespace dynamicfs;

TEST(OpenFileTable, LastCloseIsReportedOnce) {
  OpenFileTable t;
  EXPECT_FALSE(t.is_open(7));
  EXPECT_FALSE(t.close(7));  // no handle: nothing to drop
  t.open(7);
  t.open(7);
  t.open(7 + 64);  // same shard, another inode
  EXPECT_TRUE(t.is_open(7));
  EXPECT_FALSE(t.close(7));
  EXPECT_TRUE(t.is_open(7));
  EXPECT_TRUE(t.close(7));
  EXPECT_FALSE(t.is_open(7));
  EXPECT_FALSE(t.close(7));
  EXPECT_TRUE(t.is_open(7 + 64));
}

TEST(OpenFileTable, ConcurrentOpensAreAllCounted) {
  OpenFileTable t;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&t, i] {
      for (uint64_t n = 0; n < 1000; ++n) t.open(n % 16 + static_cast<uint64_t>(i % 2) * 100);
    });
  }
  for (auto& th : threads) th.join();
  // Each inode was opened by 4 threads, once per n with n % 16 == its slot:
  // every close but the last keeps it open.
  for (uint64_t ino : {0ull, 5ull, 100ull, 115ull}) {
    const uint64_t slot = ino % 100;
    const int opens = 4 * (1000 / 16 + (slot < 1000 % 16 ? 1 : 0));
    for (int c = 1; c < opens; ++c) ASSERT_FALSE(t.close(ino)) << ino << " close " << c;
    EXPECT_TRUE(t.close(ino)) << ino;
  }
  EXPECT_FALSE(t.is_open(5));
  EXPECT_TRUE(t.is_open(6));
}

TEST(AccessTracker, KeepsTheLastReadOfEachFileAndOfAny) {
  AccessTracker a;
  EXPECT_EQ(a.last_read(3), 0u);
  EXPECT_EQ(a.last_read_any(), 0u);
  a.note(3, 100);
  a.note(4, 90);
  EXPECT_EQ(a.last_read(3), 100u);
  EXPECT_EQ(a.last_read(4), 90u);
  EXPECT_EQ(a.last_read_any(), 90u);  // the latest note, as the clock gave it
  a.note(3, 120);
  EXPECT_EQ(a.last_read(3), 120u);
  EXPECT_EQ(a.last_read_any(), 120u);
  a.forget(3);
  EXPECT_EQ(a.last_read(3), 0u);
  EXPECT_EQ(a.last_read(4), 90u);
}

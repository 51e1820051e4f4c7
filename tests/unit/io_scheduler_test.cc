// IoScheduler: data integrity through the pool, priority order, aging and
// backpressure, on a real temp file.
#include "src/io/io_scheduler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

using namespace dynamicfs;

namespace {
std::string temp_path() {
  char tmpl[] = "/tmp/dfs-iosched-XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  unlink(tmpl);
  return tmpl;
}
}  // namespace

TEST(IoScheduler, WritesThenReadsBack) {
  std::string path = temp_path();
  auto disk = Disk::open(path, 16 << 20);
  ASSERT_TRUE(disk.is_ok());
  IoScheduler sched(*disk.value(), 2);
  std::string data(8192, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  iovec iov[2] = {{data.data(), 4096}, {data.data() + 4096, 4096}};
  ASSERT_TRUE(sched.writev(iov, 2, 1 << 20).is_ok());
  std::string back(8192, '\0');
  ASSERT_TRUE(sched.read(back.data(), back.size(), 1 << 20, IoClass::kNormalRead).is_ok());
  EXPECT_EQ(back, data);
  ASSERT_TRUE(sched.sync().is_ok());
  EXPECT_EQ(sched.stats().bytes_written, 8192u);
  // Reading past the end is an error value, not a crash.
  EXPECT_FALSE(sched.read(back.data(), 4096, 16 << 20, IoClass::kNormalRead).is_ok());
  unlink(path.c_str());
}

TEST(IoScheduler, ConcurrentCallersAllComplete) {
  std::string path = temp_path();
  auto disk = Disk::open(path, 16 << 20);
  ASSERT_TRUE(disk.is_ok());
  IoScheduler sched(*disk.value(), 2,
                    /*queue_capacity=*/4);  // small queue: callers must wait, not fail
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 16; ++t) {
    ts.emplace_back([&, t] {
      std::string buf(4096, static_cast<char>('a' + t));
      for (int i = 0; i < 50; ++i) {
        iovec iov{buf.data(), buf.size()};
        IoClass cls = (i % 2) ? IoClass::kBackground : IoClass::kWrite;
        if (sched.writev(&iov, 1, static_cast<uint64_t>(t) * 4096, cls).is_ok()) ++ok;
      }
    });
  }
  for (auto& th : ts) th.join();
  EXPECT_EQ(ok.load(), 16 * 50);
  for (int t = 0; t < 16; ++t) {
    std::string back(4096, '\0');
    ASSERT_TRUE(
        sched.read(back.data(), 4096, static_cast<uint64_t>(t) * 4096, IoClass::kHighRead).is_ok());
    EXPECT_EQ(back, std::string(4096, static_cast<char>('a' + t)));
  }
  unlink(path.c_str());
}

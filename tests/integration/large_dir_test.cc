// A directory with 1,000,000 entries must work through the real mount:
// every entry is listed exactly once by readdir, names resolve, and creating,
// renaming and removing entries in the full directory still works. Timings are
// printed for the record (speed is judged by bench/, not by this test).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mount_fixture.h"

using dynamicfs::testing::TestVolume;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string entry_name(uint64_t i) {
  return "entry-" + std::to_string(i);
}

}  // namespace

TEST(LargeDirectory, MillionEntries) {
  std::string why;
  if (!dynamicfs::testing::integration_environment_ok(&why)) GTEST_SKIP() << why;
  const uint64_t count = std::getenv("LARGE_DIR_ENTRIES")
                             ? std::strtoull(std::getenv("LARGE_DIR_ENTRIES"), nullptr, 10)
                             : 1000000;
  unsigned seed = std::getenv("LARGE_DIR_SEED")
                      ? static_cast<unsigned>(std::atoi(std::getenv("LARGE_DIR_SEED")))
                      : std::random_device{}();
  std::printf("[large_dir] entries %llu seed %u\n", static_cast<unsigned long long>(count), seed);
  SCOPED_TRACE("LARGE_DIR_SEED=" + std::to_string(seed));
  TestVolume vol("512M");
  std::string dir = vol.mountpoint() + "/big";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);

  auto t = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    std::string p = dir + "/" + entry_name(i);
    ASSERT_EQ(::mknod(p.c_str(), S_IFREG | 0644, 0), 0) << p << ": " << std::strerror(errno);
  }
  std::printf("[large_dir] created %llu entries in %.1fs\n", static_cast<unsigned long long>(count),
              seconds_since(t));

  // Random lookups resolve to regular files; absent names are ENOENT.
  std::mt19937_64 rng(seed);
  t = std::chrono::steady_clock::now();
  for (int i = 0; i < 20000; ++i) {
    uint64_t k = rng() % count;
    struct stat st {};
    std::string p = dir + "/" + entry_name(k);
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    ASSERT_TRUE(S_ISREG(st.st_mode));
    std::string missing = dir + "/absent-" + std::to_string(k);
    ASSERT_EQ(::stat(missing.c_str(), &st), -1);
    ASSERT_EQ(errno, ENOENT);
  }
  std::printf("[large_dir] 40000 lookups in %.2fs\n", seconds_since(t));

  // Changes inside the full directory.
  for (int i = 0; i < 1000; ++i) {
    uint64_t k = rng() % count;
    std::string from = dir + "/" + entry_name(k), to = dir + "/renamed-" + std::to_string(i);
    struct stat st {};
    if (::stat(from.c_str(), &st) != 0) continue;  // already renamed
    ASSERT_EQ(::rename(from.c_str(), to.c_str()), 0) << from;
    ASSERT_EQ(::unlink(to.c_str()), 0) << to;
    ASSERT_EQ(::mknod(from.c_str(), S_IFREG | 0600, 0), 0) << from;
  }

  // readdir lists every entry exactly once, across a remount too.
  for (int pass = 0; pass < 2; ++pass) {
    t = std::chrono::steady_clock::now();
    std::vector<bool> seen(count);
    uint64_t listed = 0;
    DIR* d = ::opendir(dir.c_str());
    ASSERT_NE(d, nullptr);
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      ASSERT_EQ(name.rfind("entry-", 0), 0u) << "unexpected entry " << name;
      uint64_t k = std::strtoull(name.c_str() + 6, nullptr, 10);
      ASSERT_LT(k, count);
      ASSERT_FALSE(seen[k]) << "listed twice: " << name;
      seen[k] = true;
      ++listed;
    }
    ::closedir(d);
    EXPECT_EQ(listed, count);
    std::printf("[large_dir] readdir pass %d listed %llu in %.1fs\n", pass,
                static_cast<unsigned long long>(listed), seconds_since(t));
    if (pass == 0) vol.remount();
  }
}

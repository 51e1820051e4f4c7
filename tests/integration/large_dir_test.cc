// A directory with 1,000,000 entries must work through the real mount:
// every entry is listed exactly once by readdir, names resolve, and creating,
// renaming and removing entries in the full directory still works. Timings are
// printed for the record (speed is judged by bench/, not by this test). A
// second test lists a directory while entries come and go.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
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

// readdir while the directory changes: entries present from opendir to the
// end are listed exactly once, nothing is listed twice, and seekdir to a
// telldir offset resumes at the same entry (offsets stay valid although
// entries before and after it were created and removed meanwhile).
TEST(LargeDirectory, ReaddirStableWhileDirectoryChanges) {
  std::string why;
  if (!dynamicfs::testing::integration_environment_ok(&why)) GTEST_SKIP() << why;
  const unsigned seed = std::random_device{}();
  std::printf("[readdir-churn] seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);
  TestVolume vol("256M");
  const std::string dir = vol.mountpoint() + "/churn";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  constexpr int kInitial = 3000;
  for (int i = 0; i < kInitial; ++i) {
    int fd = ::open((dir + "/" + entry_name(i)).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  std::map<std::string, int> seen;
  long mark = -1;
  std::string after_mark;
  int listed = 0, next_new = kInitial;
  std::vector<int> removed;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    ++seen[n];
    if (++listed == kInitial / 3) {
      mark = ::telldir(d);
      dirent* peek = ::readdir(d);
      ASSERT_NE(peek, nullptr);
      after_mark = peek->d_name;
      ::seekdir(d, mark);
    }
    if (listed % 10 == 0) {
      // Churn: a new entry, and a random original one removed.
      int fd = ::open((dir + "/" + entry_name(next_new++)).c_str(), O_CREAT | O_WRONLY, 0644);
      ASSERT_GE(fd, 0);
      ::close(fd);
      int victim = static_cast<int>(rng() % kInitial);
      if (::unlink((dir + "/" + entry_name(victim)).c_str()) == 0) removed.push_back(victim);
    }
  }
  for (const auto& [name, times] : seen) EXPECT_EQ(times, 1) << name << " listed " << times;
  std::set<int> gone(removed.begin(), removed.end());
  for (int i = 0; i < kInitial; ++i) {
    if (gone.count(i) == 0) {
      EXPECT_EQ(seen.count(entry_name(i)), 1u) << entry_name(i) << " missed";
    }
  }
  // The offset taken mid-listing still points at the same entry.
  ::seekdir(d, mark);
  dirent* again = ::readdir(d);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(std::string(again->d_name), after_mark);
  ::closedir(d);
}

// MetaStore's refusal of a store that is already open: EBUSY for a second
// read-write open in this process (until the first closes) and for a store
// another process holds, whatever RocksDB's message says.
#include "metadata/meta_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using namespace dynamicfs;

namespace {

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-metastore-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    auto created = MetaStore::open(m_dir + "/meta", /*create=*/true);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string m_dir;
};

}  // namespace

TEST_F(MetaStoreTest, SecondOpenInThisProcessIsBusyUntilTheFirstCloses) {
  auto first = MetaStore::open(m_dir + "/meta", /*create=*/false);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  // Another spelling of the same directory is the same store.
  auto second = MetaStore::open(m_dir + "/./meta", /*create=*/false);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.err(), EBUSY) << second.status().to_string();
  first.value().reset();
  auto third = MetaStore::open(m_dir + "/meta", /*create=*/false);
  EXPECT_TRUE(third.is_ok()) << third.status().to_string();
}

// The holder half of StoreHeldByAnotherProcessIsBusy, run in a fresh process
// (fork, then exec of this binary): RocksDB starts threads, and a forked
// child of a threaded parent must not (ThreadSanitizer refuses it). Skipped
// unless the parent passed the store and its two pipe ends.
TEST(MetaStoreHolder, HoldStoreUntilTold) {
  const char* dir = ::getenv("DFS_TEST_HOLD_STORE");
  const char* ready_fd = ::getenv("DFS_TEST_HOLD_READY_FD");
  const char* done_fd = ::getenv("DFS_TEST_HOLD_DONE_FD");
  if (dir == nullptr || ready_fd == nullptr || done_fd == nullptr) {
    GTEST_SKIP() << "runs only as the child of StoreHeldByAnotherProcessIsBusy";
  }
  auto held = MetaStore::open(dir, /*create=*/false);
  const char c = held.is_ok() ? 'y' : 'n';
  ASSERT_EQ(::write(std::atoi(ready_fd), &c, 1), 1);
  char d;
  (void)!::read(std::atoi(done_fd), &d, 1);
  ASSERT_TRUE(held.is_ok()) << held.status().to_string();
}

TEST_F(MetaStoreTest, StoreHeldByAnotherProcessIsBusy) {
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const std::string store = m_dir + "/meta";
  // The child's environment and arguments are built before the fork: only
  // async-signal-safe calls may run between fork and exec.
  std::vector<std::string> env_strings = {
      "DFS_TEST_HOLD_STORE=" + store,
      "DFS_TEST_HOLD_READY_FD=" + std::to_string(ready[1]),
      "DFS_TEST_HOLD_DONE_FD=" + std::to_string(done[0])};
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = "meta_store_test", arg1 = "--gtest_filter=MetaStoreHolder.*";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execve("/proc/self/exe", argv, envp.data());
    ::_exit(127);
  }
  ::close(ready[1]);
  ::close(done[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the holder process died before it tried";
  ASSERT_EQ(c, 'y') << "the holder process could not open the store";
  auto mine = MetaStore::open(store, /*create=*/false);
  const char d = 'x';
  ASSERT_EQ(::write(done[1], &d, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "holder status " << status;
  ::close(ready[0]);
  ::close(done[1]);
  ASSERT_FALSE(mine.is_ok());
  EXPECT_EQ(mine.err(), EBUSY) << mine.status().to_string();
  EXPECT_NE(mine.status().message().find("another process"), std::string::npos);
}

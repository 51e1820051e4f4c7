// MetaStore's refusal of a store that is already open: EBUSY for a second
// read-write open in this process (until the first closes) and for a store
// another process holds, whatever RocksDB's message says.
#include "metadata/meta_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

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

TEST_F(MetaStoreTest, StoreHeldByAnotherProcessIsBusy) {
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Holds the store until the parent has tried.
    auto held = MetaStore::open(m_dir + "/meta", /*create=*/false);
    const char c = held.is_ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    char d;
    (void)!::read(done[0], &d, 1);
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y') << "the child could not open the store";
  auto mine = MetaStore::open(m_dir + "/meta", /*create=*/false);
  const char d = 'x';
  ASSERT_EQ(::write(done[1], &d, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_FALSE(mine.is_ok());
  EXPECT_EQ(mine.err(), EBUSY) << mine.status().to_string();
  EXPECT_NE(mine.status().message().find("another process"), std::string::npos);
}

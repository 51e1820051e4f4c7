// An fsync of one file never holds back work on another (DESIGN.md rule 3):
// while file A's fsync is stuck in a data-disk sync (a slow disk, held
// through FaultPlan) or in the metadata WAL sync (held through the WAL
// hook), writes, reads and creates of other files complete. A's fsync then
// completes, and the metadata it made durable points only at synced data.
//
// The held sync is released only after the other work finished, so a
// blocking implementation cannot pass; the 30 s wait only turns a deadlock
// into a failure instead of a hung test.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "src/fs/file_system.h"
#include "src/io/fault_plan.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 89 + i / 4096);
  return s;
}

// A hold a test opens and closes by hand, and learns when it caught someone.
class Latch {
 public:
  void wait_here() {
    std::unique_lock lk(m_mutex);
    if (!m_closed) return;
    ++m_waiting;
    m_cv.notify_all();
    m_cv.wait(lk, [this] { return !m_closed; });
  }
  void wait_for_waiter() {
    std::unique_lock lk(m_mutex);
    m_cv.wait(lk, [this] { return m_waiting > 0; });
  }
  void open() {
    {
      std::lock_guard lk(m_mutex);
      m_closed = false;
    }
    m_cv.notify_all();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_closed = true;
  int m_waiting = 0;
};

class SyncIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two copies: every write dirties both disks, so both syncs are held.
    m_dir = test_volume::make("syncisolation", 128ull << 20, 2, 2);
    ASSERT_FALSE(HasFailure());
    m_fs = test_volume::open_with_faults(m_dir, &m_plans);
    ASSERT_TRUE(m_fs);
    // A's fsync must wait for a data disk sync: its writes are not journaled.
    m_fs->set_journal_max_bytes(0);
    m_a = test_volume::file_with(*m_fs, "a", pattern(64 * 1024, 'a'));
    m_b = test_volume::file_with(*m_fs, "b", pattern(64 * 1024, 'b'));
    ASSERT_TRUE(m_fs->sync_all().is_ok());
    for (auto& p : m_plans) p->journal_unsynced(true);
  }
  void TearDown() override {
    m_wal.open();
    for (auto& p : m_plans) p->release_syncs();
    m_fs.reset();
    std::filesystem::remove_all(m_dir);
  }

  // Work on other files while A's fsync is held: writes to B at several
  // offsets, reads them back, creates and writes a new file.
  void other_work() {
    for (int i = 0; i < 8; ++i) {
      const std::string block = pattern(4096, static_cast<char>('k' + i));
      auto w = m_fs->write(m_b, static_cast<uint64_t>(i) * 8192, block.data(), block.size());
      ASSERT_TRUE(w.is_ok()) << w.status().to_string();
      std::string back(4096, '\0');
      auto r = m_fs->read(m_b, static_cast<uint64_t>(i) * 8192, back.size(), back.data());
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      EXPECT_EQ(back, block);
    }
    uint64_t c = test_volume::file_with(*m_fs, "c", pattern(32 * 1024, 'c'));
    EXPECT_NE(c, 0u);
    auto attr = m_fs->getattr(c);
    ASSERT_TRUE(attr.is_ok());
    EXPECT_EQ(attr->size, 32u * 1024);
  }

  // Starts fsync(A) after dirtying it, waits until `held` says it is stuck,
  // runs other_work() and checks it finished while the fsync was still
  // stuck; then `release` lets the fsync finish.
  void check_isolated(const std::function<void()>& held, const std::function<void()>& release,
                      bool others_synced) {
    const std::string fresh = pattern(16 * 1024, 'z');
    ASSERT_TRUE(m_fs->write(m_a, 4096, fresh.data(), fresh.size()).is_ok());
    std::atomic<bool> fsync_done{false};
    Status fsync_status;
    std::thread syncer([&] {
      fsync_status = m_fs->fsync(m_a, /*datasync=*/false);
      fsync_done = true;
    });
    held();
    auto work = std::async(std::launch::async, [this] { other_work(); });
    const bool finished = work.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    EXPECT_TRUE(finished) << "work on other files waited for file A's fsync";
    EXPECT_FALSE(fsync_done.load()) << "the fsync was not held while the other work ran";
    release();
    work.get();
    syncer.join();
    ASSERT_TRUE(fsync_status.is_ok()) << fsync_status.to_string();
    // B's batches were applied during the round's data pass: the round
    // wrote the WAL only after syncing their data too, so nothing written
    // is still unsynced once it returned.
    if (others_synced) {
      for (size_t d = 0; d < m_plans.size(); ++d)
        EXPECT_EQ(m_plans[d]->unsynced_writes(), 0u) << "disk " << d;
    }
    auto a = test_volume::read_all(*m_fs, m_a);
    ASSERT_TRUE(a.is_ok());
    EXPECT_EQ(a->substr(4096, fresh.size()), fresh);
  }

  std::string m_dir;
  std::vector<std::shared_ptr<FaultPlan>> m_plans;
  std::unique_ptr<FileSystem> m_fs;
  Latch m_wal;
  uint64_t m_a = 0, m_b = 0;
};

}  // namespace

TEST_F(SyncIsolationTest, HeldDataSyncDoesNotBlockOtherFiles) {
  for (auto& p : m_plans) p->hold_syncs();
  check_isolated([this] { m_plans[0]->wait_for_held_sync(); },
                 [this] {
                   for (auto& p : m_plans) p->release_syncs();
                 },
                 /*others_synced=*/true);
}

TEST_F(SyncIsolationTest, HeldWalSyncDoesNotBlockOtherFiles) {
  m_fs->TEST_set_wal_sync_hook([this] { m_wal.wait_here(); });
  check_isolated([this] { m_wal.wait_for_waiter(); }, [this] { m_wal.open(); },
                 /*others_synced=*/false);
}

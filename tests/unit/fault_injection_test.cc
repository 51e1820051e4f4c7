// Failing disks under a real FileSystem, through FaultPlan: read errors are
// EIO (never other bytes), a failed write changes nothing and leaks no
// space, a torn write is caught by the checksums, and after a power loss
// that undoes unsynced writes every fsync'd byte is intact while unsynced
// data reads back whole or fails with EIO, never as a mix or as garbage.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "src/fs/file_system.h"
#include "src/io/fault_plan.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = test_volume::make("faulttest", 128ull << 20);
    ASSERT_FALSE(HasFailure());
    m_fs = test_volume::open_with_faults(m_dir, &m_plans);
    ASSERT_TRUE(m_fs);
  }
  void TearDown() override {
    for (auto& p : m_plans) p->clear_faults();
    m_fs.reset();
    std::filesystem::remove_all(m_dir);
  }
  void each(const std::function<void(FaultPlan&)>& fn) {
    for (auto& p : m_plans) fn(*p);
  }
  uint64_t file_with(const std::string& name, const std::string& data) {
    return test_volume::file_with(*m_fs, name, data);
  }
  Result<std::string> read_all(uint64_t ino) { return test_volume::read_all(*m_fs, ino); }
  // Every (name, data) file in the root reads back whole.
  void expect_files(const std::vector<std::pair<std::string, std::string>>& files) {
    for (const auto& [name, d] : files) {
      auto rec = m_fs->lookup(FileSystem::kRootIno, name);
      ASSERT_TRUE(rec.is_ok()) << name << ": " << rec.status().to_string();
      auto back = read_all(rec->ino);
      ASSERT_TRUE(back.is_ok()) << "fsync'd small write lost: " << back.status().to_string();
      EXPECT_EQ(back.value(), d);
    }
  }
  static std::string pattern(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 97 + i / 4096);
    return s;
  }

  std::string m_dir;
  std::vector<std::shared_ptr<FaultPlan>> m_plans;
  std::unique_ptr<FileSystem> m_fs;
};

}  // namespace

TEST_F(FaultTest, ReadErrorsAreEioNeverData) {
  const std::string data = pattern(64 * 1024, 'a');
  uint64_t f = file_with("f", data);
  each([](FaultPlan& p) { p.fail_reads(EIO); });
  EXPECT_EQ(read_all(f).err(), EIO);
  each([](FaultPlan& p) { p.fail_reads(0); });
  auto back = read_all(f);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), data);
}

TEST_F(FaultTest, FailedWriteChangesNothingAndLeaksNoSpace) {
  const std::string data = pattern(256 * 1024, 'b');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  const auto free_before = m_fs->statfs().f_bfree;
  each([](FaultPlan& p) { p.fail_writes(ENOSPC); });
  const std::string other = pattern(128 * 1024, 'z');
  EXPECT_EQ(m_fs->write(f, 4096, other.data(), other.size()).err(), ENOSPC);
  each([](FaultPlan& p) { p.fail_writes(0); });
  auto back = read_all(f);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(m_fs->statfs().f_bfree, free_before);
}

TEST_F(FaultTest, TornWriteIsCaughtByChecksums) {
  uint64_t f = file_with("f", pattern(64 * 1024, 'c'));
  each([](FaultPlan& p) { p.tear_next_write(); });
  const std::string fresh = pattern(64 * 1024, 'q');
  ASSERT_TRUE(m_fs->write(f, 0, fresh.data(), fresh.size()).is_ok());  // the disk lied
  each([](FaultPlan& p) { p.clear_faults(); });
  EXPECT_EQ(read_all(f).err(), EIO) << "torn data was returned as if it were good";
  // Rewriting the file heals it.
  ASSERT_TRUE(m_fs->write(f, 0, fresh.data(), fresh.size()).is_ok());
  auto back = read_all(f);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), fresh);
}

TEST_F(FaultTest, PowerLossKeepsSyncedDataAndNeverShowsGarbage) {
  const unsigned seed = std::random_device{}();
  std::printf("power loss seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  // The disk-sync path: small writes' data in the WAL has its own test.
  m_fs->set_journal_max_bytes(0);
  each([](FaultPlan& p) { p.journal_unsynced(true); });
  std::vector<std::pair<uint64_t, std::string>> synced, unsynced;
  for (int i = 0; i < 8; ++i) {
    std::string d = pattern(16 * 1024 + i * 4096, static_cast<char>('A' + i));
    synced.emplace_back(file_with("s" + std::to_string(i), d), d);
  }
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  for (int i = 0; i < 8; ++i) {
    std::string d = pattern(20 * 1024, static_cast<char>('a' + i));
    unsynced.emplace_back(file_with("u" + std::to_string(i), d), d);
  }
  size_t pending = 0;
  each([&](FaultPlan& p) { pending += p.unsynced_writes(); });
  ASSERT_GT(pending, 0u);
  for (size_t i = 0; i < m_plans.size(); ++i) {
    auto undone = m_fs->volume().disk(i).power_loss(/*random_subset=*/true, seed + i);
    ASSERT_TRUE(undone.is_ok());
  }
  for (const auto& [ino, d] : synced) {
    auto back = read_all(ino);
    ASSERT_TRUE(back.is_ok()) << "fsync'd data lost: " << back.status().to_string();
    EXPECT_EQ(back.value(), d);
  }
  int whole = 0, eio = 0;
  for (const auto& [ino, d] : unsynced) {
    auto back = read_all(ino);
    if (back.is_ok()) {
      EXPECT_EQ(back.value(), d) << "unsynced file read back as other bytes";
      ++whole;
    } else {
      EXPECT_EQ(back.err(), EIO);
      ++eio;
    }
  }
  std::printf("unsynced files after the power loss: %d whole, %d EIO\n", whole, eio);
}

// Small writes made durable through the WAL alone (JournalBlob): a power cut
// that undoes every unsynced disk write loses none of them, because mount
// writes them back from the WAL before anything reads them.
TEST_F(FaultTest, PowerCutKeepsFsyncedSmallWritesThroughTheJournal) {
  m_fs->set_sync_interval_ms(3600 * 1000);  // no background sync of the disks meanwhile
  ASSERT_GT(m_fs->journal_max_bytes(), 3u * 4096);
  each([](FaultPlan& p) { p.journal_unsynced(true); });
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 8; ++i) {
    std::string name = "j" + std::to_string(i);
    std::string d = pattern(4096 * (1 + i % 3), static_cast<char>('K' + i));
    file_with(name, d);
    files.emplace_back(name, d);
  }
  ASSERT_TRUE(m_fs->sync_all().is_ok());  // the fsync
  size_t pending = 0;
  each([&](FaultPlan& p) { pending += p.unsynced_writes(); });
  ASSERT_GT(pending, 0u) << "the fsync synced the data disks: nothing journaled to test";
  for (size_t i = 0; i < m_plans.size(); ++i) {
    auto undone = m_fs->volume().disk(i).power_loss(/*random_subset=*/false, 0);
    ASSERT_TRUE(undone.is_ok());
  }
  m_fs.reset();  // the disks are gone: no clean unmount
  m_plans.clear();
  m_fs = test_volume::open_with_faults(m_dir, &m_plans);
  ASSERT_TRUE(m_fs);
  expect_files(files);
}

// A data sync that the power cut short never happened: the writes it was to
// cover are undone, the sync reports EIO, nothing counts them as durable,
// and the fsync'd small writes come back from the WAL at the next mount.
// (A model that counted such a sync as complete let unmount checkpoint the
// volume and drop the WAL that held them.)
TEST_F(FaultTest, SyncCutShortByPowerLossCountsForNothing) {
  m_fs->set_sync_interval_ms(3600 * 1000);
  each([](FaultPlan& p) { p.journal_unsynced(true); });
  std::vector<std::pair<std::string, std::string>> files;
  for (int i = 0; i < 8; ++i) {
    std::string name = "c" + std::to_string(i);
    std::string d = pattern(4096 * (1 + i % 2), static_cast<char>('c' + i));
    file_with(name, d);
    files.emplace_back(name, d);
  }
  ASSERT_TRUE(m_fs->sync_all().is_ok());  // the fsync: data in the WAL only
  FaultPlan* dirty = nullptr;
  for (auto& p : m_plans)
    if (p->unsynced_writes() > 0) dirty = p.get();
  ASSERT_NE(dirty, nullptr) << "the fsync synced the data disks: nothing journaled to test";
  each([](FaultPlan& p) { p.hold_syncs(); });
  m_fs->set_sync_interval_ms(1);  // the background sync starts a data pass
  dirty->wait_for_held_sync();    // ...and is inside fdatasync
  for (size_t i = 0; i < m_plans.size(); ++i)
    ASSERT_TRUE(m_fs->volume().disk(i).power_loss(/*random_subset=*/false, 0).is_ok());
  each([](FaultPlan& p) { p.release_syncs(); });
  m_fs.reset();  // unmount finds the disks dirty and fails: no clean checkpoint
  m_plans.clear();
  m_fs = test_volume::open_with_faults(m_dir, &m_plans);
  ASSERT_TRUE(m_fs);
  expect_files(files);
}

// An older journaled write of the same place, or of space freed since, is
// never written back over what the extent map expects: replay checks every
// block against the live record's checksum.
TEST_F(FaultTest, JournalReplayWritesOnlyWhatTheExtentMapExpects) {
  m_fs->set_sync_interval_ms(3600 * 1000);
  each([](FaultPlan& p) { p.journal_unsynced(true); });
  const std::string first = pattern(8192, 'f'), second = pattern(8192, 's');
  uint64_t ino = file_with("x", first);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  for (int round = 0; round < 3; ++round) {  // freed space may be reused meanwhile
    const std::string& d = round % 2 == 0 ? second : first;
    auto w = m_fs->write(ino, 0, d.data(), d.size());
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
    ASSERT_TRUE(m_fs->sync_all().is_ok());
  }
  for (size_t i = 0; i < m_plans.size(); ++i)
    ASSERT_TRUE(m_fs->volume().disk(i).power_loss(/*random_subset=*/false, 0).is_ok());
  m_fs.reset();
  m_plans.clear();
  m_fs = test_volume::open_with_faults(m_dir, &m_plans);
  ASSERT_TRUE(m_fs);
  auto back = read_all(ino);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back.value(), second);
}

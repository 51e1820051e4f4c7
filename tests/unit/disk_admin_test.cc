// disk add / disk remove under a real FileSystem: removing a disk moves
// every copy off it (the files stay intact and it is recorded as removed,
// across a remount); removing one that would leave too few disks for the
// copy count is refused with nothing changed; adding a disk after one failed
// restores two copies of everything written while degraded, after which the
// failed disk can be removed.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "metadata/key_codec.h"
#include "src/fs/file_system.h"
#include "src/fs/fsck.h"
#include "src/io/fault_plan.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

class DiskAdminTest : public ::testing::Test {
 protected:
  void make(size_t disks) {
    m_dir = test_volume::make("diskadmin", 96ull << 20, disks, /*replicas=*/2);
    ASSERT_FALSE(HasFailure());
    mount();
  }
  void TearDown() override {
    for (auto& p : m_plans) p->clear_faults();
    m_fs.reset();
    std::filesystem::remove_all(m_dir);
  }
  void mount() {
    m_fs.reset();
    m_plans.clear();
    m_fs = test_volume::open_with_faults(m_dir, &m_plans);
    ASSERT_TRUE(m_fs);
  }
  void add_file(const std::string& name, size_t n, char seed) {
    std::string data(n, '\0');
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>(seed + i * 13 + i / 4096);
    uint64_t ino = test_volume::file_with(*m_fs, name, data);
    ASSERT_NE(ino, 0u);
    m_files[name] = {ino, data};
  }
  void expect_files() {
    for (const auto& [name, f] : m_files) {
      std::string buf(f.second.size(), '\0');
      auto r = m_fs->read(f.first, 0, buf.size(), buf.data());
      ASSERT_TRUE(r.is_ok()) << name << ": " << r.status().to_string();
      EXPECT_EQ(buf, f.second) << name;
    }
  }
  // For every extent: its copies' disks.
  std::vector<std::vector<uint32_t>> copy_disks() {
    std::vector<std::vector<uint32_t>> out;
    auto it = m_fs->volume().meta().iterator(Cf::kExtents);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto e = ExtentRecord::decode({it->value().data(), it->value().size()});
      EXPECT_TRUE(e.is_ok());
      std::vector<uint32_t> d;
      for (const auto& c : e->copies) d.push_back(c.disk);
      out.push_back(d);
    }
    return out;
  }

  std::string m_dir;
  std::vector<std::shared_ptr<FaultPlan>> m_plans;
  std::unique_ptr<FileSystem> m_fs;
  std::map<std::string, std::pair<uint64_t, std::string>> m_files;
};

TEST_F(DiskAdminTest, RemoveMovesEveryCopyOffTheDisk) {
  make(3);
  for (int i = 0; i < 8; ++i) add_file("f" + std::to_string(i), (300 << 10) + i * 5000, 'a' + i);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  Status st = m_fs->remove_disk(1);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(m_fs->volume().disk_state(1), DiskState::kRemoved);
  for (const auto& d : copy_disks()) {
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NE(d[0], 1u);
    EXPECT_NE(d[1], 1u);
    EXPECT_NE(d[0], d[1]);
  }
  expect_files();
  EXPECT_EQ(m_fs->stats().disks[1].capacity, 0u);
  RebalanceStatus rs = m_fs->rebalance_status();
  EXPECT_FALSE(rs.running);
  EXPECT_EQ(rs.result, "ok");
  EXPECT_GT(rs.extents_moved, 0u);
  // Its superblock is gone, so it can be reused without --force.
  auto raw = Disk::open(m_dir + "/d1");
  ASSERT_TRUE(raw.is_ok());
  std::string block(4096, '\0');
  ASSERT_TRUE(raw.value()->read_at(block.data(), block.size(), 0).is_ok());
  EXPECT_FALSE(Superblock::has_magic(block));
  // Two disks left for two copies: removing another is refused.
  st = m_fs->remove_disk(0);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.err(), EINVAL) << st.to_string();
  EXPECT_EQ(m_fs->volume().disk_state(0), DiskState::kOnline);
  EXPECT_EQ(m_fs->remove_disk(1).err(), ENOENT);
  // The removal survives a remount, and fsck agrees with it.
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  m_fs.reset();
  auto vol = Volume::open(m_dir + "/vol");
  ASSERT_TRUE(vol.is_ok()) << vol.status().to_string();
  auto report = Fsck::run(*vol.value(), /*repair=*/false);
  ASSERT_TRUE(report.is_ok()) << report.status().to_string();
  EXPECT_TRUE(report->problems.empty()) << report->problems.front().what;
  vol.value().reset();
  mount();
  EXPECT_EQ(m_fs->volume().disk_state(1), DiskState::kRemoved);
  expect_files();
}

TEST_F(DiskAdminTest, AddAfterAFailureRestoresTwoCopiesThenTheFailedDiskGoes) {
  make(2);
  add_file("before", 200 << 10, 'b');
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  m_plans[1]->fail_reads(EIO);
  m_plans[1]->fail_writes(EIO);
  add_file("during", 500 << 10, 'd');  // degraded: one copy, on disk 0
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  ASSERT_EQ(m_fs->volume().disk_state(1), DiskState::kFailed);
  bool single = false;
  for (const auto& d : copy_disks()) single = single || d.size() == 1;
  EXPECT_TRUE(single) << "writes while degraded should have one copy";

  auto added = m_fs->add_disk(m_dir + "/d2", 96ull << 20, false);
  ASSERT_TRUE(added.is_ok()) << added.status().to_string();
  EXPECT_EQ(added.value(), 2u);
  for (const auto& d : copy_disks()) {
    ASSERT_EQ(d.size(), 2u);
    EXPECT_NE(d[0], 1u);
    EXPECT_NE(d[1], 1u);
  }
  expect_files();
  Status st = m_fs->remove_disk(1);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_FALSE(m_fs->volume().degraded());
  add_file("after", 100 << 10, 'z');
  expect_files();
  m_plans[1]->clear_faults();
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  mount();
  ASSERT_EQ(m_fs->volume().disk_count(), 3u);
  EXPECT_EQ(m_fs->volume().disk_state(1), DiskState::kRemoved);
  expect_files();
}

TEST_F(DiskAdminTest, AddRefusesADiskOfTheVolumeOrOneWithData) {
  make(2);
  auto again = m_fs->add_disk(m_dir + "/d0", 0, false);
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.err(), EEXIST) << again.status().to_string();
  std::string other = m_dir + "/other";
  {
    auto d = Disk::open(other, 96ull << 20);
    ASSERT_TRUE(d.is_ok());
    Superblock sb;
    sb.disk_size = 96ull << 20;
    ASSERT_TRUE(sb.write_to(*d.value()).is_ok());
  }
  auto foreign = m_fs->add_disk(other, 0, false);
  ASSERT_FALSE(foreign.is_ok());
  EXPECT_EQ(foreign.err(), EEXIST);
  EXPECT_EQ(m_fs->volume().disk_count(), 2u);
  auto forced = m_fs->add_disk(other, 0, true);
  ASSERT_TRUE(forced.is_ok()) << forced.status().to_string();
}

}  // namespace

// Replicated extents under a real FileSystem over three file disks with two
// copies of every extent: copies land on distinct disks with the same bytes;
// a read of a damaged copy returns good data and the copy is rewritten; with
// no good copy left a read is EIO, never wrong bytes; a disk that returns I/O
// errors is marked failed and the volume keeps serving (degraded), placing
// new data on the other disks; a disk missing at mount is tolerated while
// every extent has another copy; scrub repairs what it finds.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "metadata/key_codec.h"
#include "src/fs/file_system.h"
#include "src/fs/scrubber.h"
#include "src/io/fault_plan.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = test_volume::make("replica", 96ull << 20, /*disks=*/3, /*replicas=*/2);
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
  uint64_t file_with(const std::string& name, const std::string& data) {
    return test_volume::file_with(*m_fs, name, data);
  }
  Result<std::string> read_all(uint64_t ino) { return test_volume::read_all(*m_fs, ino); }
  std::vector<ExtentRecord> extents_of(uint64_t ino) {
    std::vector<ExtentRecord> out;
    auto it = m_fs->volume().meta().iterator(Cf::kExtents);
    std::string prefix = KeyCodec::extent_prefix(ino);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      auto e = ExtentRecord::decode({it->value().data(), it->value().size()});
      EXPECT_TRUE(e.is_ok());
      if (e.is_ok()) out.push_back(e.value());
    }
    return out;
  }
  // Raw bytes of a copy, read from the disk file behind the volume's back.
  std::string raw(const ExtentCopy& c, size_t len) {
    std::string out(len, '\0');
    auto disk = Disk::open(m_fs->volume().disk(c.disk).path());
    EXPECT_TRUE(disk.is_ok());
    EXPECT_TRUE(disk.value()->read_at(out.data(), len, c.offset).is_ok());
    return out;
  }
  void poke(const ExtentCopy& c, uint64_t at, char byte) {
    auto disk = Disk::open(m_fs->volume().disk(c.disk).path());
    ASSERT_TRUE(disk.is_ok());
    ASSERT_TRUE(disk.value()->write_at(&byte, 1, c.offset + at).is_ok());
  }
  static std::string pattern(size_t n, char seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 31 + i / 4096);
    return s;
  }

  std::string m_dir;
  std::vector<std::shared_ptr<FaultPlan>> m_plans;
  std::unique_ptr<FileSystem> m_fs;
};

TEST_F(ReplicaTest, EveryExtentHasTwoIdenticalCopiesOnDistinctDisks) {
  const std::string data = pattern(3 << 20, 'a');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->fsync(f, false).is_ok());
  auto ext = extents_of(f);
  ASSERT_FALSE(ext.empty());
  uint64_t covered = 0;
  for (const auto& e : ext) {
    ASSERT_EQ(e.copies.size(), 2u);
    EXPECT_NE(e.copies[0].disk, e.copies[1].disk);
    EXPECT_EQ(raw(e.copies[0], e.length), raw(e.copies[1], e.length));
    covered += e.length;
  }
  EXPECT_EQ(covered, data.size());
  EXPECT_EQ(read_all(f).value(), data);
  // statfs reports what a user can store: half the pool.
  struct statvfs st = m_fs->statfs();
  uint64_t pool = 0;
  for (const auto& d : m_fs->stats().disks) pool += d.capacity;
  EXPECT_EQ(st.f_blocks * st.f_frsize, pool / 2);
}

TEST_F(ReplicaTest, DamagedCopyIsServedFromTheOtherAndRepaired) {
  const std::string data = pattern(64 << 10, 'b');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  auto ext = extents_of(f);
  ASSERT_EQ(ext.size(), 1u);
  const ExtentCopy victim = ext[0].copies[0];
  poke(victim, 5 * 4096 + 17, static_cast<char>(data[5 * 4096 + 17] ^ 0x55));
  // Equally idle copies take turns: two reads touch both.
  for (int i = 0; i < 2; ++i) {
    auto got = read_all(f);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got.value(), data) << "read " << i;
  }
  m_fs->TEST_drain_repairs();
  FsStats s = m_fs->stats();
  EXPECT_EQ(s.checksum_errors, 1u);
  EXPECT_EQ(s.repairs, 1u);
  EXPECT_EQ(s.unrepaired, 0u);
  EXPECT_EQ(raw(victim, data.size()), data) << "the bad copy was not rewritten";
  EXPECT_FALSE(m_fs->volume().degraded()) << "a bad block is not a failed disk";
}

TEST_F(ReplicaTest, NoGoodCopyLeftIsEioNeverWrongData) {
  const std::string data = pattern(16 << 10, 'c');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  auto ext = extents_of(f);
  ASSERT_EQ(ext.size(), 1u);
  for (const auto& c : ext[0].copies) poke(c, 4096 + 3, static_cast<char>(data[4096 + 3] ^ 1));
  std::string buf(data.size(), '\0');
  auto r = m_fs->read(f, 0, buf.size(), buf.data());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EIO);
  // Blocks with a good copy still read.
  auto head = m_fs->read(f, 0, 4096, buf.data());
  ASSERT_TRUE(head.is_ok());
  EXPECT_EQ(buf.substr(0, 4096), data.substr(0, 4096));
  EXPECT_GE(m_fs->stats().unrepaired, 1u);
}

TEST_F(ReplicaTest, FailingDiskIsMarkedFailedAndTheVolumeServesDegraded) {
  std::vector<std::pair<uint64_t, std::string>> files;
  for (int i = 0; i < 6; ++i) {
    std::string data = pattern((200 << 10) + i * 4096 + 100, static_cast<char>('d' + i));
    files.emplace_back(file_with("f" + std::to_string(i), data), data);
  }
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  const uint32_t bad = 1;
  m_plans[bad]->fail_reads(EIO);
  m_plans[bad]->fail_writes(EIO);
  // Every file still reads (each extent has a copy off disk 1).
  for (int round = 0; round < 2; ++round) {
    for (const auto& [ino, data] : files) {
      auto got = read_all(ino);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      EXPECT_EQ(got.value(), data);
    }
  }
  // New data avoids the failed disk; fsync still works.
  std::string fresh = pattern(1 << 20, 'z');
  uint64_t g = file_with("fresh", fresh);
  ASSERT_TRUE(m_fs->fsync(g, false).is_ok());
  EXPECT_EQ(m_fs->volume().disk_state(bad), DiskState::kFailed);
  EXPECT_TRUE(m_fs->volume().degraded());
  for (const auto& e : extents_of(g)) {
    ASSERT_EQ(e.copies.size(), 2u);
    EXPECT_EQ(e.copy_on(bad), nullptr);
  }
  EXPECT_EQ(read_all(g).value(), fresh);
  // After a remount with the disk healthy again, the old copies there are
  // still good (extents are immutable): everything reads.
  m_plans[bad]->clear_faults();
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  mount();
  EXPECT_FALSE(m_fs->volume().degraded());
  for (const auto& [ino, data] : files) EXPECT_EQ(read_all(ino).value(), data);
  EXPECT_EQ(read_all(g).value(), fresh);
}

TEST_F(ReplicaTest, WriteErrorOnOneDiskPlacesTheDataElsewhere) {
  m_plans[0]->fail_writes(EIO);
  const std::string data = pattern(300 << 10, 'w');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->fsync(f, false).is_ok());
  EXPECT_EQ(m_fs->volume().disk_state(0), DiskState::kFailed);
  for (const auto& e : extents_of(f)) {
    ASSERT_EQ(e.copies.size(), 2u);
    EXPECT_EQ(e.copy_on(0), nullptr);
  }
  EXPECT_EQ(read_all(f).value(), data);
}

TEST_F(ReplicaTest, ScrubRepairsDamagedCopies) {
  const std::string data = pattern(40 << 10, 's');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  auto ext = extents_of(f);
  ASSERT_EQ(ext.size(), 1u);
  poke(ext[0].copies[1], 2 * 4096, static_cast<char>(data[2 * 4096] ^ 0x7f));
  poke(ext[0].copies[0], 7 * 4096 + 9, static_cast<char>(data[7 * 4096 + 9] ^ 0x7f));
  Scrubber scrub(*m_fs);
  auto r = scrub.run();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->checksum_errors, 2u);
  EXPECT_EQ(r->repaired, 2u);
  EXPECT_EQ(r->unrepaired, 0u);
  EXPECT_FALSE(r->damaged());
  EXPECT_EQ(raw(ext[0].copies[0], data.size()), data);
  EXPECT_EQ(raw(ext[0].copies[1], data.size()), data);
  auto again = Scrubber(*m_fs).run();
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->checksum_errors, 0u);
}

TEST_F(ReplicaTest, MissingDiskAtMountIsToleratedWhileEveryExtentHasACopy) {
  const std::string data = pattern(2 << 20, 'm');
  uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  m_fs.reset();
  const std::string d2 = m_dir + "/d2";
  ASSERT_EQ(std::rename(d2.c_str(), (d2 + ".gone").c_str()), 0);
  mount();
  ASSERT_TRUE(m_fs);
  EXPECT_EQ(m_fs->volume().disk_state(2), DiskState::kFailed);
  EXPECT_TRUE(m_fs->volume().degraded());
  EXPECT_EQ(read_all(f).value(), data);
  std::string more = pattern(256 << 10, 'n');
  uint64_t g = file_with("g", more);
  ASSERT_TRUE(m_fs->fsync(g, false).is_ok());
  for (const auto& e : extents_of(g)) EXPECT_EQ(e.copy_on(2), nullptr);
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  m_fs.reset();
  // Two disks gone: some extents have no copy; the mount is refused.
  const std::string d1 = m_dir + "/d1";
  ASSERT_EQ(std::rename(d1.c_str(), (d1 + ".gone").c_str()), 0);
  auto vol = Volume::open(m_dir + "/vol");
  ASSERT_FALSE(vol.is_ok());
  EXPECT_NE(vol.status().message().find("unavailable"), std::string::npos)
      << vol.status().message();
  ASSERT_EQ(std::rename((d1 + ".gone").c_str(), d1.c_str()), 0);
  ASSERT_EQ(std::rename((d2 + ".gone").c_str(), d2.c_str()), 0);
  mount();
  EXPECT_FALSE(m_fs->volume().degraded());
  EXPECT_EQ(read_all(f).value(), data);
  EXPECT_EQ(read_all(g).value(), more);
}

}  // namespace

// Erasure-coded data through a real FileSystem over six file disks: a 4+2
// policy inherited from the root lays large pieces out as stripes on six
// distinct disks and small ones as three copies; a damaged unit block is
// rebuilt on read and rewritten; any two lost disks leave every byte
// readable; windows cut out of a stripe keep it until the last one goes;
// `policy set` converts existing files both ways; a disk add rebuilds
// stripes that had a unit on a missing disk; a raw-disk image holding only
// the used ranges (what disk replication sends) keeps every stripe whole;
// fsck is clean throughout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "src/extent/extent_space.h"
#include "src/fs/fsck.h"
#include "src/fs/scrubber.h"
#include "src/replication/used_ranges.h"
#include "tests/unit/test_volume.h"

using namespace dynamicfs;

namespace {

constexpr uint64_t kMiB = 1 << 20;

// Equal contents, or where they first differ (no multi-MiB dumps).
::testing::AssertionResult same(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure()
         << "sizes " << got.size() << " and " << want.size() << ", first difference at byte " << i
         << " (" << int(static_cast<unsigned char>(got[i])) << " for "
         << int(static_cast<unsigned char>(want[i])) << ")";
}

DataPolicy ec42() {
  DataPolicy p;
  p.ec = EcScheme{4, 2};
  return p;
}

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Three copies for small pieces (m + 1), so a mount survives two
    // missing disks as the stripes do.
    m_dir = test_volume::make("erasure", 64 * kMiB, 6, 3);
    ASSERT_FALSE(HasFailure());
    mount();
    ASSERT_TRUE(m_fs->set_policy(FileSystem::kRootIno, ec42()).is_ok());
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
  void unmount() {
    ASSERT_TRUE(m_fs->shutdown().is_ok());
    m_fs.reset();
  }
  void expect_fsck_clean() {
    unmount();
    auto vol = Volume::open(m_dir + "/vol");
    ASSERT_TRUE(vol.is_ok()) << vol.status().to_string();
    auto rep = Fsck::run(*vol.value(), false);
    ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
    for (const auto& p : rep->problems) ADD_FAILURE() << "fsck: " << p.what;
    vol.value().reset();
    mount();
  }
  std::vector<std::pair<uint64_t, ExtentRecord>> extents(uint64_t ino) {
    auto m = m_fs->extent_map(ino);
    EXPECT_TRUE(m.is_ok());
    return m.is_ok() ? m.value() : std::vector<std::pair<uint64_t, ExtentRecord>>{};
  }
  void poke(const ExtentCopy& c, uint64_t at, char byte) {
    auto disk = Disk::open(m_fs->volume().disk(c.disk).path());
    ASSERT_TRUE(disk.is_ok());
    ASSERT_TRUE(disk.value()->write_at(&byte, 1, c.offset + at).is_ok());
  }
  std::string raw(const ExtentCopy& c, uint64_t at, size_t len) {
    std::string out(len, '\0');
    auto disk = Disk::open(m_fs->volume().disk(c.disk).path());
    EXPECT_TRUE(disk.is_ok());
    EXPECT_TRUE(disk.value()->read_at(out.data(), len, c.offset + at).is_ok());
    return out;
  }
  static std::string random_data(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = rng();
      std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
    }
    return s;
  }
  uint64_t file_with(const std::string& name, const std::string& data) {
    return test_volume::file_with(*m_fs, name, data);
  }
  std::string read_all(uint64_t ino) {
    auto r = test_volume::read_all(*m_fs, ino);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r.value() : std::string();
  }

  std::string m_dir;
  std::vector<std::shared_ptr<FaultPlan>> m_plans;
  std::unique_ptr<FileSystem> m_fs;
};

TEST_F(ErasureTest, StripesOnSixDisksSmallPiecesInThreeCopiesAboutOneAndAHalfTimesTheSpace) {
  auto sub = m_fs->mkdir(FileSystem::kRootIno, "sub", 0755, Caller{});
  ASSERT_TRUE(sub.is_ok());
  EXPECT_EQ(m_fs->data_policy(sub->ino).value(), ec42()) << "directories inherit the policy";
  const std::string data = random_data(8 * kMiB + 5000, 1);
  const uint64_t f = file_with("f", data);
  EXPECT_EQ(m_fs->data_policy(f).value(), ec42());
  ASSERT_TRUE(m_fs->fsync(f, false).is_ok());
  uint64_t coded = 0, raw_bytes = 0;
  for (const auto& [off, e] : extents(f)) {
    raw_bytes += space_bytes(e);
    if (e.is_ec()) {
      coded += e.length;
      ASSERT_EQ(e.copies.size(), 6u);
      uint64_t disks = 0;
      for (const auto& c : e.copies) disks |= 1ull << c.disk;
      EXPECT_EQ(std::popcount(disks), 6) << "units share a disk at offset " << off;
    } else {
      EXPECT_LT(e.blocks(), 16u) << "a large piece at " << off << " was not coded";
      EXPECT_EQ(e.copies.size(), 3u);
    }
  }
  EXPECT_EQ(coded, 8 * kMiB);
  const double ratio = static_cast<double>(raw_bytes) / static_cast<double>(data.size());
  std::printf("erasure 4+2: %llu bytes of data take %llu bytes of disk (%.3fx)\n",
              static_cast<unsigned long long>(data.size()),
              static_cast<unsigned long long>(raw_bytes), ratio);
  EXPECT_GT(ratio, 1.49);
  EXPECT_LT(ratio, 1.52);
  EXPECT_TRUE(same(read_all(f), data));
  expect_fsck_clean();
  EXPECT_TRUE(same(read_all(f), data));
}

TEST_F(ErasureTest, DamagedUnitBlocksAreRebuiltOnReadAndByScrub) {
  const std::string data = random_data(1 * kMiB, 2);
  const uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  auto ext = extents(f);
  ASSERT_EQ(ext.size(), 1u);
  const ExtentRecord e = ext[0].second;
  ASSERT_TRUE(e.is_ec());
  const uint64_t unit = uint64_t{e.unit_blocks} * 4096;
  // Data unit 1, block 3: file offset unit + 3 blocks.
  const uint64_t at = 3 * 4096 + 100;
  poke(e.copies[1], at, static_cast<char>(data[unit + at] ^ 0x5a));
  EXPECT_TRUE(same(read_all(f), data));
  m_fs->TEST_drain_repairs();
  FsStats s = m_fs->stats();
  EXPECT_EQ(s.checksum_errors, 1u);
  EXPECT_EQ(s.repairs, 1u);
  EXPECT_EQ(s.unrepaired, 0u);
  EXPECT_TRUE(same(raw(e.copies[1], 0, unit), data.substr(unit, unit)))
      << "the unit was not rewritten";
  // A parity block is only read by scrub, which rebuilds it too.
  const std::string parity = raw(e.copies[5], 0, unit);
  poke(e.copies[5], 4096 * 7, static_cast<char>(parity[4096 * 7] ^ 1));
  auto r = Scrubber(*m_fs).run();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->checksum_errors, 1u);
  EXPECT_EQ(r->repaired, 1u);
  EXPECT_FALSE(r->damaged());
  EXPECT_TRUE(same(raw(e.copies[5], 0, unit), parity));
  // Three damaged units of one row are more than 4+2 can rebuild: EIO,
  // never wrong bytes.
  for (int u : {0, 2, 4}) {
    const std::string b = raw(e.copies[u], 0, 4096);
    poke(e.copies[u], 10, static_cast<char>(b[10] ^ 1));
  }
  std::string buf(4096, '\0');
  auto bad = m_fs->read(f, 0, 4096, buf.data());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.err(), EIO);
}

TEST_F(ErasureTest, AnyTwoLostDisksLeaveEveryByteReadable) {
  std::vector<std::pair<uint64_t, std::string>> files;
  for (int i = 0; i < 4; ++i) {
    std::string d = random_data((3 + i) * kMiB / 2 + 777 * i, 10 + i);
    files.emplace_back(file_with("f" + std::to_string(i), d), d);
  }
  files.emplace_back(file_with("small", "tiny file"), "tiny file");
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  // Read errors on two disks while mounted.
  const uint32_t a = rng() % 6, b = (a + 1 + rng() % 5) % 6;
  m_plans[a]->fail_reads(EIO);
  m_plans[b]->fail_reads(EIO);
  for (const auto& [ino, d] : files)
    EXPECT_TRUE(same(read_all(ino), d)) << "disks " << a << ", " << b;
  for (auto& p : m_plans) p->clear_faults();
  unmount();
  // Two other disk files deleted: the volume mounts degraded and reads.
  const uint32_t c = rng() % 6, d = (c + 1 + rng() % 5) % 6;
  for (uint32_t gone : {c, d})
    ASSERT_EQ(std::remove((m_dir + "/d" + std::to_string(gone)).c_str()), 0);
  mount();
  EXPECT_EQ(m_fs->volume().disk_state(c), DiskState::kFailed);
  EXPECT_EQ(m_fs->volume().disk_state(d), DiskState::kFailed);
  for (const auto& [ino, data] : files)
    EXPECT_TRUE(same(read_all(ino), data)) << "disks " << c << ", " << d;
  // Two new disks: the rebuild moves every unit off the missing ones.
  for (int i = 0; i < 2; ++i) {
    auto added = m_fs->add_disk(m_dir + "/n" + std::to_string(i), 64 * kMiB, false);
    ASSERT_TRUE(added.is_ok()) << added.status().to_string();
  }
  for (const auto& [ino, data] : files) {
    for (const auto& [off, e] : extents(ino)) {
      for (const auto& u : e.copies) {
        EXPECT_NE(u.disk, c) << "inode " << ino << " offset " << off;
        EXPECT_NE(u.disk, d) << "inode " << ino << " offset " << off;
      }
      if (e.blocks() >= 16) {
        EXPECT_TRUE(e.is_ec()) << "rebuilt as copies at " << off;
      }
    }
    EXPECT_TRUE(same(read_all(ino), data));
  }
}

TEST_F(ErasureTest, CutWindowsKeepTheStripeUntilTheLastGoes) {
  const std::string data = random_data(2 * kMiB, 3);
  const uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  uint64_t free_before = 0;
  for (const auto& sp : m_fs->stats().disks) free_before += sp.free + sp.deferred;
  // An overwrite in the middle leaves two windows of the first stripe; a
  // truncate and a punch cut more; a copy shares one.
  std::string expect = data;
  const std::string patch = random_data(9000, 4);
  ASSERT_TRUE(m_fs->write(f, 300000, patch.data(), patch.size()).is_ok());
  expect.replace(300000, patch.size(), patch);
  ASSERT_TRUE(
      m_fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1 * kMiB, 65536).is_ok());
  std::fill(expect.begin() + kMiB, expect.begin() + kMiB + 65536, '\0');
  auto g = m_fs->mknod(FileSystem::kRootIno, "g", S_IFREG | 0644, 0, Caller{});
  ASSERT_TRUE(g.is_ok());
  auto copied = m_fs->copy_range(f, 0, g->ino, 0, 512 * 1024);
  ASSERT_TRUE(copied.is_ok());
  ASSERT_EQ(copied.value(), 512u * 1024);
  EXPECT_TRUE(same(read_all(f), expect));
  EXPECT_TRUE(same(read_all(g->ino), expect.substr(0, 512 * 1024)));
  expect_fsck_clean();
  EXPECT_TRUE(same(read_all(f), expect));
  // Deleting f leaves g's window of the first stripe intact.
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "f").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_TRUE(same(read_all(g->ino), expect.substr(0, 512 * 1024)));
  expect_fsck_clean();
  // And with g gone too, all the space is back.
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "g").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  uint64_t free_after = 0;
  for (const auto& sp : m_fs->stats().disks) free_after += sp.free + sp.deferred;
  uint64_t total = 0;
  for (const auto& sp : m_fs->stats().disks) total += sp.capacity;
  EXPECT_EQ(free_after, total) << "space leaked";
  EXPECT_GT(free_after, free_before);
}

TEST_F(ErasureTest, PolicySetConvertsExistingFilesBothWays) {
  DataPolicy two;
  two.replicas = 2;
  ASSERT_TRUE(m_fs->set_policy(FileSystem::kRootIno, two).is_ok());
  const std::string data = random_data(3 * kMiB + 8192, 5);
  const uint64_t f = file_with("f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  for (const auto& [off, e] : extents(f)) {
    EXPECT_FALSE(e.is_ec());
    EXPECT_EQ(e.copies.size(), 2u);
  }
  auto change = m_fs->set_policy(FileSystem::kRootIno, ec42());
  ASSERT_TRUE(change.is_ok());
  EXPECT_EQ(change->files, 1u);
  m_fs->TEST_drain_conversions();
  uint64_t coded = 0;
  for (const auto& [off, e] : extents(f)) coded += e.is_ec() ? e.length : 0;
  EXPECT_EQ(coded, 3 * kMiB + 8192) << "the replicated pieces were not coded";
  EXPECT_GT(m_fs->convert_stats().extents, 0u);
  EXPECT_TRUE(same(read_all(f), data));
  expect_fsck_clean();
  ASSERT_TRUE(m_fs->set_policy(f, two).is_ok());
  m_fs->TEST_drain_conversions();
  for (const auto& [off, e] : extents(f)) {
    EXPECT_FALSE(e.is_ec());
    EXPECT_EQ(e.copies.size(), 2u);
  }
  EXPECT_TRUE(same(read_all(f), data));
  EXPECT_EQ(m_fs->data_policy(f).value(), two);
  expect_fsck_clean();
  EXPECT_TRUE(same(read_all(f), data));
}

TEST_F(ErasureTest, UsedRangesOfEachDiskHoldWholeStripeUnits) {
  // Small windows at both ends of a stripe: the tail one lives at the end of
  // the last data unit.
  const std::string data = random_data(1 * kMiB, 6);
  const uint64_t f = file_with("f", data);
  std::string expect = data;
  const std::string mid = random_data(kMiB - 12288, 7);
  ASSERT_TRUE(m_fs->write(f, 4096, mid.data(), mid.size()).is_ok());
  expect.replace(4096, mid.size(), mid);
  unmount();
  // Keep only what the used ranges cover: punch out the rest of every disk.
  for (int d = 0; d < 6; ++d) {
    const std::string path = m_dir + "/d" + std::to_string(d);
    auto used = UsedRanges::dynamicfs_used(path, m_dir + "/vol");
    ASSERT_TRUE(used.is_ok()) << used.status().to_string();
    const uint64_t size = std::filesystem::file_size(path);
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    auto punch = [fd](uint64_t from, uint64_t to) {
      if (to <= from) return;
      EXPECT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                            static_cast<off_t>(from), static_cast<off_t>(to - from)),
                0);
    };
    uint64_t pos = 0;
    for (const ByteRange& r : UsedRanges::normalize(used.value(), 4096, size)) {
      punch(pos, r.offset);
      pos = r.end();
    }
    punch(pos, size);
    ::close(fd);
  }
  mount();
  EXPECT_TRUE(same(read_all(f), expect));
  m_fs->TEST_drain_repairs();
  EXPECT_EQ(m_fs->stats().checksum_errors, 0u) << "a used range left out part of a unit";
}

// Wide stripes: with k = 6, ceil(blocks / k) per unit can leave the last data
// units empty (25 blocks: five units of 5), which must still code.
TEST(ErasureWide, EveryLengthCodesAndReadsBackUnderSixPlusTwo) {
  const std::string dir = test_volume::make("erasure8", 64 * kMiB, 8, 3);
  auto vol = Volume::open(dir + "/vol");
  ASSERT_TRUE(vol.is_ok());
  auto fsr = FileSystem::open(std::move(vol).value());
  ASSERT_TRUE(fsr.is_ok());
  FileSystem& fs = *fsr.value();
  DataPolicy p;
  p.ec = EcScheme{6, 2};
  ASSERT_TRUE(fs.set_policy(FileSystem::kRootIno, p).is_ok());
  for (uint64_t blocks = 24; blocks <= 50; ++blocks) {
    std::string data(blocks * 4096, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + blocks);
    const uint64_t f = test_volume::file_with(fs, "f" + std::to_string(blocks), data);
    auto m = fs.extent_map(f);
    ASSERT_TRUE(m.is_ok());
    ASSERT_EQ(m->size(), 1u) << blocks << " blocks";
    EXPECT_TRUE(m->front().second.is_ec()) << blocks << " blocks were not coded";
    EXPECT_TRUE(same(test_volume::read_all(fs, f).value(), data)) << blocks << " blocks";
  }
  ASSERT_TRUE(fs.shutdown().is_ok());
  fsr.value().reset();
  std::filesystem::remove_all(dir);
}

}  // namespace

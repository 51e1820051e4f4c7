// Tiering through a FileSystem: placement of new data on the ssd class,
// demotion of the coldest files above the high water mark, promotion of
// files read again, with readers running during the passes.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "metadata/key_codec.h"
#include "tests/unit/test_volume.h"

using namespace dynamicfs;

namespace {

constexpr uint64_t kMiB = 1 << 20;

// Bytes of the file's copies on ssd-class disks, and in all.
std::pair<uint64_t, uint64_t> ssd_share(FileSystem& fs, uint64_t ino) {
  auto m = fs.extent_map(ino);
  EXPECT_TRUE(m.is_ok());
  uint64_t ssd = 0, all = 0;
  for (const auto& [off, e] : m.value()) {
    for (const auto& c : e.copies) {
      all += e.length;
      if (fs.volume().disk_class(c.disk) == DiskClass::kSsd) ssd += e.length;
    }
  }
  return {ssd, all};
}

std::string data_of(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i / 4096 + i * 13);
  return s;
}

}  // namespace

TEST(Tiering, NewDataOnSsdColdFilesMoveOffHotFilesMoveBack) {
  std::string dir = test_volume::make("tier", 64 * kMiB, 3, 1);
  auto vol = Volume::open(dir + "/vol");
  ASSERT_TRUE(vol.is_ok());
  ASSERT_TRUE(vol.value()->set_disk_class(0, "ssd").is_ok());
  ASSERT_TRUE(vol.value()->set_disk_class(1, "hdd").is_ok());
  ASSERT_TRUE(vol.value()->set_disk_class(2, "hdd").is_ok());
  EXPECT_FALSE(vol.value()->set_disk_class(2, "nvme").is_ok());
  FsOptions opts;
  opts.tiering.high_water = 50;
  opts.tiering.low_water = 30;
  opts.tiering.interval_ms = 3600000;  // passes run by the test only
  opts.discard = false;                // no discard claims racing the accounting
  auto fsr = FileSystem::open(std::move(vol).value(), opts);
  ASSERT_TRUE(fsr.is_ok());
  FileSystem& fs = *fsr.value();

  // Six 8 MiB files fill 48 of the ssd's 63 MiB (under its 95 % fill
  // limit): all of them land there.
  std::vector<uint64_t> inos;
  std::vector<std::string> contents;
  for (int i = 0; i < 6; ++i) {
    contents.push_back(data_of(8 * kMiB, static_cast<char>('a' + i)));
    inos.push_back(test_volume::file_with(fs, "f" + std::to_string(i), contents.back()));
    auto [ssd, all] = ssd_share(fs, inos.back());
    EXPECT_EQ(ssd, all) << "file " << i << " was not placed on the ssd class";
  }
  // Make the first files the coldest.
  for (int i = 0; i < 6; ++i) {
    SetAttr a;
    a.valid = SetAttr::kMtime;
    a.mtime = Timestamp{1000 + i, 0};
    ASSERT_TRUE(fs.setattr(inos[i], a, Caller{}).is_ok());
  }
  ASSERT_TRUE(fs.sync_all().is_ok());
  TierStats before = fs.tier_stats();
  ASSERT_TRUE(before.active);
  ASSERT_GT(before.ssd.used, before.ssd.capacity / 2);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0};
  std::thread reader([&] {
    std::string buf(8 * kMiB, '\0');
    while (!stop) {
      for (int i = 2; i < 6; ++i) {
        auto r = fs.read(inos[i], 0, buf.size(), buf.data());
        if (!r.is_ok() || buf != contents[i]) ++bad;
      }
    }
  });
  ASSERT_TRUE(fs.TEST_run_tier_pass().is_ok());
  ASSERT_TRUE(fs.sync_all().is_ok());
  TierStats after = fs.tier_stats();
  EXPECT_LE(after.ssd.used, after.ssd.capacity * 30 / 100 + 8 * kMiB);
  EXPECT_GT(after.demoted_bytes, 0u);
  EXPECT_EQ(ssd_share(fs, inos[0]).first, 0u) << "the coldest file stayed on ssd";
  EXPECT_EQ(ssd_share(fs, inos[1]).first, 0u);

  // Reading a cold file makes it hot; with room under the low water mark it
  // moves back.
  std::string buf(8 * kMiB, '\0');
  ASSERT_TRUE(fs.read(inos[0], 0, buf.size(), buf.data()).is_ok());
  TierSettings t = fs.tier_settings();
  t.low_water = 49;
  fs.set_tier_settings(t);
  ASSERT_TRUE(fs.TEST_run_tier_pass().is_ok());
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0u) << "reads during migration returned wrong data";
  auto [ssd0, all0] = ssd_share(fs, inos[0]);
  EXPECT_EQ(ssd0, all0) << "the file read again did not move back to ssd";
  EXPECT_GT(fs.tier_stats().promoted_bytes, 0u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(test_volume::read_all(fs, inos[i]).value(), contents[i]);
  ASSERT_TRUE(fs.shutdown().is_ok());
  std::filesystem::remove_all(dir);
}

// A mount whose recovery fails (a malformed extent record) reports it and
// tears down without writing anything: no crash in shutdown, and the
// volume is not marked clean.
TEST(MountFailure, RecoveryErrorShutsDownWithoutWriting) {
  std::string dir = test_volume::make("badrec", 64 * kMiB, 2, 1);
  {
    auto vol = Volume::open(dir + "/vol");
    ASSERT_TRUE(vol.is_ok());
    auto& meta = vol.value()->meta();
    rocksdb::WriteBatch b;
    b.Put(meta.handle(Cf::kExtents), KeyCodec::extent_key(5, 0), "garbage");
    b.Delete(meta.handle(Cf::kVolume), KeyCodec::kCleanUnmount);
    ASSERT_TRUE(meta.write(&b, true).is_ok());
  }
  auto vol = Volume::open(dir + "/vol");
  ASSERT_TRUE(vol.is_ok());
  auto fs = FileSystem::open(std::move(vol).value());
  ASSERT_FALSE(fs.is_ok());
  EXPECT_EQ(fs.err(), EUCLEAN) << fs.status().to_string();
  auto again = Volume::open(dir + "/vol");
  ASSERT_TRUE(again.is_ok());
  auto clean = again.value()->meta().get(Cf::kVolume, KeyCodec::kCleanUnmount);
  ASSERT_TRUE(clean.is_ok());
  EXPECT_FALSE(clean->has_value()) << "a failed mount wrote a clean-unmount checkpoint";
  std::filesystem::remove_all(dir);
}

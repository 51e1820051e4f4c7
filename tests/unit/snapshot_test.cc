// Snapshots on a real volume (file disks, RocksDB): a snapshot keeps every
// file as it was whatever the live volume does next, refuses writes, counts
// its space exactly, survives remounts and the crash-time rebuild, and diff
// reports what changed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>

#include <filesystem>

#include "metadata/key_codec.h"
#include "src/fs/fsck.h"
#include "src/fs/snapshot_diff.h"
#include "tests/unit/test_volume.h"

namespace dynamicfs {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7 + i / 4096) % 61);
  return s;
}

uint64_t free_bytes(const FileSystem& fs) {
  uint64_t free = 0;
  for (const auto& d : fs.stats().disks) free += d.free + d.deferred;
  return free;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = test_volume::make("snap", 128 * kMiB, 2, 2);
    m_fs = open_live();
    ASSERT_NE(m_fs, nullptr);
  }
  void TearDown() override {
    m_snap.reset();
    m_fs.reset();
    std::filesystem::remove_all(m_dir);
  }
  std::unique_ptr<FileSystem> open_live() {
    auto vol = Volume::open(m_dir + "/vol");
    EXPECT_TRUE(vol.is_ok()) << vol.status().to_string();
    if (!vol.is_ok()) return nullptr;
    auto fs = FileSystem::open(std::move(vol).value());
    EXPECT_TRUE(fs.is_ok()) << fs.status().to_string();
    return fs.is_ok() ? std::move(fs).value() : nullptr;
  }
  std::unique_ptr<FileSystem> open_snapshot(const std::string& name) {
    auto vol = Volume::open_snapshot(m_dir + "/vol", name);
    EXPECT_TRUE(vol.is_ok()) << vol.status().to_string();
    if (!vol.is_ok()) return nullptr;
    auto fs = FileSystem::open(std::move(vol).value());
    EXPECT_TRUE(fs.is_ok()) << fs.status().to_string();
    return fs.is_ok() ? std::move(fs).value() : nullptr;
  }
  std::string content(FileSystem& fs, const std::string& name) {
    auto rec = fs.lookup(FileSystem::kRootIno, name);
    if (!rec.is_ok()) return "<" + rec.status().to_string() + ">";
    auto data = test_volume::read_all(fs, rec->ino);
    return data.is_ok() ? data.value() : "<" + data.status().to_string() + ">";
  }
  uint64_t unique_of(const std::string& name) {
    auto list = m_fs->list_snapshots();
    EXPECT_TRUE(list.is_ok()) << list.status().to_string();
    if (!list.is_ok()) return 0;
    for (const auto& u : list.value())
      if (u.info.name == name) return u.unique_bytes;
    ADD_FAILURE() << "no snapshot " << name;
    return 0;
  }

  std::string m_dir;
  std::unique_ptr<FileSystem> m_fs;
  std::unique_ptr<FileSystem> m_snap;
};

TEST_F(SnapshotTest, KeepsEveryFileWhateverTheLiveVolumeDoes) {
  const std::string a = pattern(3 * kMiB, 'a'), b = pattern(kMiB + 123, 'b');
  const std::string c = pattern(2 * kMiB, 'c'), d = pattern(70000, 'd');
  uint64_t ia = test_volume::file_with(*m_fs, "overwritten", a);
  uint64_t ib = test_volume::file_with(*m_fs, "truncated", b);
  uint64_t ic = test_volume::file_with(*m_fs, "punched", c);
  test_volume::file_with(*m_fs, "deleted", d);
  ASSERT_TRUE(m_fs->create_snapshot("before").is_ok());

  const std::string fresh = pattern(3 * kMiB, 'x');
  ASSERT_TRUE(m_fs->write(ia, 0, fresh.data(), fresh.size()).is_ok());
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 5000;
  ASSERT_TRUE(m_fs->setattr(ib, sa, Caller{}).is_ok());
  ASSERT_TRUE(m_fs->fallocate(ic, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, kMiB).is_ok());
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "deleted").is_ok());
  test_volume::file_with(*m_fs, "added", "later");
  ASSERT_TRUE(m_fs->sync_all().is_ok());  // frees become reusable: they must not be
  test_volume::file_with(*m_fs, "filler", pattern(6 * kMiB, 'f'));

  m_snap = open_snapshot("before");
  ASSERT_NE(m_snap, nullptr);
  EXPECT_EQ(content(*m_snap, "overwritten"), a);
  EXPECT_EQ(content(*m_snap, "truncated"), b);
  EXPECT_EQ(content(*m_snap, "punched"), c);
  EXPECT_EQ(content(*m_snap, "deleted"), d);
  EXPECT_EQ(m_snap->lookup(FileSystem::kRootIno, "added").err(), ENOENT);
  EXPECT_EQ(content(*m_fs, "overwritten"), fresh);
  EXPECT_EQ(content(*m_fs, "truncated"), b.substr(0, 5000));
}

TEST_F(SnapshotTest, ASnapshotMountRefusesEveryChange) {
  uint64_t ino = test_volume::file_with(*m_fs, "f", "data");
  ASSERT_TRUE(m_fs->create_snapshot("ro").is_ok());
  m_snap = open_snapshot("ro");
  ASSERT_NE(m_snap, nullptr);
  EXPECT_TRUE(m_snap->read_only());
  EXPECT_EQ(m_snap->write(ino, 0, "x", 1).err(), EROFS);
  EXPECT_EQ(m_snap->mknod(FileSystem::kRootIno, "n", S_IFREG | 0644, 0, Caller{}).err(), EROFS);
  EXPECT_EQ(m_snap->mkdir(FileSystem::kRootIno, "d", 0755, Caller{}).err(), EROFS);
  EXPECT_EQ(m_snap->unlink(FileSystem::kRootIno, "f").err(), EROFS);
  EXPECT_EQ(m_snap->rename(FileSystem::kRootIno, "f", FileSystem::kRootIno, "g", 0).err(), EROFS);
  EXPECT_EQ(m_snap->setxattr(ino, "user.a", "v", 0).err(), EROFS);
  EXPECT_EQ(m_snap->open_file(ino, O_RDWR).err(), EROFS);
  EXPECT_EQ(m_snap->create_snapshot("nested").err(), EROFS);
  EXPECT_TRUE(m_snap->open_file(ino, O_RDONLY).is_ok());
  EXPECT_EQ(content(*m_snap, "f"), "data");
  // Held while open: deletion waits for the unmount.
  EXPECT_EQ(m_fs->delete_snapshot("ro").err(), EBUSY);
  m_snap.reset();
  EXPECT_TRUE(m_fs->delete_snapshot("ro").is_ok());
}

TEST_F(SnapshotTest, NamesAreCheckedAndUnique) {
  EXPECT_EQ(m_fs->create_snapshot("").err(), EINVAL);
  EXPECT_EQ(m_fs->create_snapshot(".hidden").err(), EINVAL);
  EXPECT_EQ(m_fs->create_snapshot("a/b").err(), EINVAL);
  EXPECT_EQ(m_fs->create_snapshot(std::string(65, 'n')).err(), EINVAL);
  ASSERT_TRUE(m_fs->create_snapshot("daily-2026.12.01_a").is_ok());
  EXPECT_EQ(m_fs->create_snapshot("daily-2026.12.01_a").err(), EEXIST);
  EXPECT_EQ(m_fs->delete_snapshot("missing").err(), ENOENT);
  auto second = m_fs->create_snapshot("second");
  ASSERT_TRUE(second.is_ok());
  auto list = m_fs->list_snapshots();
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(list->at(0).info.name, "daily-2026.12.01_a");  // oldest first
  EXPECT_EQ(list->at(1).info.id, second->id);
  EXPECT_LT(list->at(0).info.id, list->at(1).info.id);
}

TEST_F(SnapshotTest, SpaceIsCountedOnceAndDeleteGivesBackExactlyWhatOnlyItHeld) {
  const std::string data = pattern(4 * kMiB, 's');
  uint64_t ino = test_volume::file_with(*m_fs, "f", data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  const uint64_t before = free_bytes(*m_fs);
  ASSERT_TRUE(m_fs->create_snapshot("s").is_ok());
  EXPECT_EQ(free_bytes(*m_fs), before) << "a snapshot costs no data space";
  EXPECT_EQ(unique_of("s"), 0u) << "everything is still shared with the live file";

  // Overwrite half: that half (both copies) is now held by the snapshot only.
  const std::string half = pattern(2 * kMiB, 'h');
  ASSERT_TRUE(m_fs->write(ino, 0, half.data(), half.size()).is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(unique_of("s"), 2 * 2 * kMiB);
  EXPECT_EQ(free_bytes(*m_fs), before - 2 * 2 * kMiB);

  const uint64_t held = free_bytes(*m_fs);
  ASSERT_TRUE(m_fs->delete_snapshot("s").is_ok());
  m_fs->drain_snapshot_deletes();
  EXPECT_EQ(free_bytes(*m_fs), held + 2 * 2 * kMiB);
  EXPECT_EQ(content(*m_fs, "f"), half + data.substr(half.size()));
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/vol/snapshots/s"));
}

TEST_F(SnapshotTest, SurvivesRemountAndTheRebuildAfterACrash) {
  const std::string data = pattern(3 * kMiB, 'r');
  uint64_t ino = test_volume::file_with(*m_fs, "f", data);
  ASSERT_TRUE(m_fs->create_snapshot("keep").is_ok());
  const std::string next = pattern(3 * kMiB, 'n');
  ASSERT_TRUE(m_fs->write(ino, 0, next.data(), next.size()).is_ok());
  const uint64_t unique = unique_of("keep");
  EXPECT_EQ(unique, 2 * 3 * kMiB);
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  m_fs.reset();

  // As a crash leaves it: no clean-unmount checkpoint, plus a half-made
  // snapshot directory.
  {
    auto meta = MetaStore::open(m_dir + "/vol/meta", false);
    ASSERT_TRUE(meta.is_ok());
    rocksdb::WriteBatch b;
    b.Delete(meta.value()->handle(Cf::kVolume), KeyCodec::kCleanUnmount);
    ASSERT_TRUE(meta.value()->write(&b, true).is_ok());
  }
  std::filesystem::create_directories(m_dir + "/vol/snapshots/.tmp-half/meta");
  m_fs = open_live();
  ASSERT_NE(m_fs, nullptr);
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/vol/snapshots/.tmp-half"));
  EXPECT_EQ(unique_of("keep"), unique);
  // New writes must not land on the snapshot's space.
  test_volume::file_with(*m_fs, "g", pattern(40 * kMiB, 'g'));
  m_snap = open_snapshot("keep");
  ASSERT_NE(m_snap, nullptr);
  EXPECT_EQ(content(*m_snap, "f"), data);
  m_snap.reset();
  ASSERT_TRUE(m_fs->shutdown().is_ok());
  m_fs.reset();
  auto vol = Volume::open(m_dir + "/vol");
  ASSERT_TRUE(vol.is_ok());
  auto rep = Fsck::run(*vol.value(), false);
  ASSERT_TRUE(rep.is_ok());
  for (const auto& p : rep->problems) ADD_FAILURE() << p.what;
  vol.value().reset();
  m_fs = open_live();
}

TEST_F(SnapshotTest, DiffReportsTheChanges) {
  uint64_t a = test_volume::file_with(*m_fs, "a", pattern(kMiB, 'a'));
  test_volume::file_with(*m_fs, "b", "bbb");
  test_volume::file_with(*m_fs, "same", "unchanged");
  ASSERT_TRUE(m_fs->create_snapshot("one").is_ok());
  const std::string patch = pattern(8192, 'p');
  ASSERT_TRUE(m_fs->write(a, 65536, patch.data(), patch.size()).is_ok());
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "b").is_ok());
  ASSERT_TRUE(m_fs->mkdir(FileSystem::kRootIno, "dir", 0755, Caller{}).is_ok());
  ASSERT_TRUE(m_fs->create_snapshot("two").is_ok());

  auto older = MetaStore::open_read_only(m_dir + "/vol/snapshots/one/meta");
  auto newer = MetaStore::open_read_only(m_dir + "/vol/snapshots/two/meta");
  ASSERT_TRUE(older.is_ok() && newer.is_ok());
  auto d = SnapshotDiff::compare(*older.value(), *newer.value());
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  ASSERT_EQ(d->added.size(), 1u);
  EXPECT_EQ(d->added[0].path, "/dir");
  ASSERT_EQ(d->removed.size(), 1u);
  EXPECT_EQ(d->removed[0].path, "/b");
  ASSERT_EQ(d->changed.size(), 1u);
  EXPECT_EQ(d->changed[0].path, "/a");
  EXPECT_TRUE(d->changed[0].data);
  ASSERT_EQ(d->changed[0].ranges.size(), 1u);
  EXPECT_EQ(d->changed[0].ranges[0], std::make_pair(uint64_t{65536}, uint64_t{8192}));
  // Two copies of the 8 KiB patch are new space; nothing else is.
  EXPECT_EQ(d->new_space_bytes(), 2u * 8192);
}

}  // namespace
}  // namespace dynamicfs

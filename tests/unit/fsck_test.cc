// Fsck: a clean volume checks clean; metadata damaged on purpose (dangling
// and missing entries, wrong counts, extents of missing files, a space
// checkpoint that disagrees) is reported with exit code 4, repaired with
// exit code 1, clean afterwards, and the repaired volume mounts and reads.
#include "src/fs/fsck.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/fs/file_system.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = test_volume::make("fscktest", 128ull << 20);
    ASSERT_FALSE(HasFailure());
    // Some content: a directory, files with data, a hard link, a copy.
    auto fs = open_fs();
    Caller c;
    auto dir = fs->mkdir(FileSystem::kRootIno, "dir", S_IFDIR | 0755, c);
    ASSERT_TRUE(dir.is_ok());
    m_dir_ino = dir->ino;
    for (int i = 0; i < 3; ++i) {
      auto f = fs->mknod(m_dir_ino, "f" + std::to_string(i), S_IFREG | 0644, 0, c);
      ASSERT_TRUE(f.is_ok());
      m_files.push_back(f->ino);
      std::string data(20000 + i, static_cast<char>('a' + i));
      ASSERT_TRUE(fs->write(f->ino, 0, data.data(), data.size()).is_ok());
    }
    ASSERT_TRUE(fs->link(m_files[0], FileSystem::kRootIno, "hard").is_ok());
    auto copy = fs->mknod(FileSystem::kRootIno, "copy", S_IFREG | 0644, 0, c);
    ASSERT_TRUE(copy.is_ok());
    ASSERT_TRUE(fs->copy_range(m_files[1], 0, copy->ino, 0, 20001).is_ok());
    ASSERT_TRUE(fs->shutdown().is_ok());
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }

  std::unique_ptr<FileSystem> open_fs() {
    auto vol = Volume::open(m_dir + "/vol");
    EXPECT_TRUE(vol.is_ok()) << vol.status().to_string();
    auto fs = FileSystem::open(std::move(vol).value());
    EXPECT_TRUE(fs.is_ok()) << fs.status().to_string();
    return std::move(fs).value();
  }
  FsckReport check(bool repair) {
    auto vol = Volume::open(m_dir + "/vol");
    EXPECT_TRUE(vol.is_ok()) << vol.status().to_string();
    auto rep = Fsck::run(*vol.value(), repair);
    EXPECT_TRUE(rep.is_ok()) << rep.status().to_string();
    for (const auto& p : rep->problems) std::printf("  fsck: %s\n", p.what.c_str());
    return rep.value();
  }
  // Applies raw changes to the metadata of the unmounted volume.
  template <typename Fn>
  void damage(Fn fn) {
    auto vol = Volume::open(m_dir + "/vol");
    ASSERT_TRUE(vol.is_ok());
    rocksdb::WriteBatch b;
    fn(vol.value()->meta(), b);
    ASSERT_TRUE(vol.value()->meta().write(&b, true).is_ok());
  }

  std::string m_dir;
  uint64_t m_dir_ino = 0;
  std::vector<uint64_t> m_files;
};

}  // namespace

TEST_F(FsckTest, CleanVolumeIsClean) {
  FsckReport r = check(false);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_GT(r.shared_bytes, 0u);  // the copy shares blocks
  EXPECT_EQ(r.inodes, 6u);
}

TEST_F(FsckTest, DamageIsFoundRepairedAndTheVolumeMounts) {
  damage([&](MetaStore& m, rocksdb::WriteBatch& b) {
    // A dangling entry, an entry removed (f2 unreachable), a wrong link
    // count, an extent of a missing inode and a leaked range in the space
    // checkpoint.
    std::string v;
    put_le<uint64_t>(&v, 999999);
    put_le<uint32_t>(&v, S_IFREG);
    b.Put(m.handle(Cf::kDentries), KeyCodec::dentry_key(FileSystem::kRootIno, "ghost"), v);
    b.Delete(m.handle(Cf::kDentries), KeyCodec::dentry_key(m_dir_ino, "f2"));
    auto rec = m.get(Cf::kInodes, KeyCodec::inode_key(m_files[1]));
    ASSERT_TRUE(rec.is_ok() && rec->has_value());
    auto r = InodeRecord::decode(m_files[1], **rec);
    ASSERT_TRUE(r.is_ok());
    r->nlink = 7;
    b.Put(m.handle(Cf::kInodes), KeyCodec::inode_key(m_files[1]), r->encode());
    auto ext = m.iterator(Cf::kExtents);
    ext->SeekToFirst();
    ASSERT_TRUE(ext->Valid());
    b.Put(m.handle(Cf::kExtents), KeyCodec::extent_key(424242, 0), ext->value());
    auto alloc = m.iterator(Cf::kAlloc);
    alloc->SeekToFirst();
    ASSERT_TRUE(alloc->Valid());
    b.Delete(m.handle(Cf::kAlloc), alloc->key());  // a free range forgotten: leaked
  });
  FsckReport found = check(false);
  EXPECT_EQ(found.exit_code(), 4);
  EXPECT_GE(found.problems.size(), 5u);
  FsckReport fixed = check(true);
  EXPECT_EQ(fixed.exit_code(), 1);
  FsckReport after = check(false);
  EXPECT_EQ(after.exit_code(), 0);
  for (const auto& n : after.notes) std::printf("  note: %s\n", n.c_str());

  auto fs = open_fs();
  EXPECT_EQ(fs->lookup(FileSystem::kRootIno, "ghost").err(), ENOENT);
  auto lf = fs->lookup(FileSystem::kRootIno, "lost+found");
  ASSERT_TRUE(lf.is_ok());
  auto f2 = fs->lookup(lf->ino, "#" + std::to_string(m_files[2]));
  ASSERT_TRUE(f2.is_ok()) << "the unreachable file was not reconnected";
  std::string buf(f2->size, '\0');
  auto n = fs->read(f2->ino, 0, buf.size(), buf.data());
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(buf, std::string(20002, 'c'));
  EXPECT_EQ(fs->getattr(m_files[1])->nlink, 1u);
  ASSERT_TRUE(fs->shutdown().is_ok());
  fs.reset();
  EXPECT_EQ(check(false).exit_code(), 0);  // the checkpoint written at unmount agrees
}

// FileSystem without FUSE: namespace semantics, copy-on-write data paths,
// checksums, space accounting and persistence across reopen, on a real
// volume of temp file disks.
#include "src/fs/file_system.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/xattr.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "src/fs/scrubber.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = test_volume::make("fstest", 256ull << 20);
    ASSERT_FALSE(HasFailure());
    open();
  }
  void TearDown() override {
    m_fs.reset();
    std::filesystem::remove_all(m_dir);
  }
  void open() {
    auto vol = Volume::open(m_dir + "/vol");
    ASSERT_TRUE(vol.is_ok()) << vol.status().to_string();
    auto fs = FileSystem::open(std::move(vol).value());
    ASSERT_TRUE(fs.is_ok()) << fs.status().to_string();
    m_fs = std::move(fs).value();
  }
  void reopen() {
    ASSERT_TRUE(m_fs->shutdown().is_ok());
    m_fs.reset();
    open();
  }
  uint64_t mkfile(const std::string& name, uint64_t parent = FileSystem::kRootIno) {
    auto r = m_fs->mknod(parent, name, S_IFREG | 0644, 0, m_caller);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? r->ino : 0;
  }
  std::string read_all(uint64_t ino) {
    auto attr = m_fs->getattr(ino);
    std::string buf(attr->size, '\0');
    auto r = m_fs->read(ino, 0, buf.size(), buf.data());
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    buf.resize(r.is_ok() ? r.value() : 0);
    return buf;
  }
  void write(uint64_t ino, uint64_t off, const std::string& s) {
    auto r = m_fs->write(ino, off, s.data(), s.size());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r.value(), s.size());
  }

  std::string m_dir;
  std::unique_ptr<FileSystem> m_fs;
  Caller m_caller;
};

}  // namespace

TEST_F(FsTest, CreateLookupAndErrors) {
  uint64_t f = mkfile("a");
  EXPECT_EQ(m_fs->lookup(FileSystem::kRootIno, "a")->ino, f);
  EXPECT_EQ(m_fs->lookup(FileSystem::kRootIno, "b").err(), ENOENT);
  EXPECT_EQ(m_fs->mknod(FileSystem::kRootIno, "a", S_IFREG | 0644, 0, m_caller).err(), EEXIST);
  EXPECT_EQ(m_fs->mknod(FileSystem::kRootIno, std::string(256, 'x'), S_IFREG, 0, m_caller).err(),
            ENAMETOOLONG);
  EXPECT_TRUE(
      m_fs->mknod(FileSystem::kRootIno, std::string(255, 'x'), S_IFREG, 0, m_caller).is_ok());
  EXPECT_EQ(m_fs->lookup(f, "x").err(), ENOTDIR);
  EXPECT_EQ(m_fs->rmdir(FileSystem::kRootIno, "a").err(), ENOTDIR);
  EXPECT_EQ(m_fs->unlink(FileSystem::kRootIno, "zz").err(), ENOENT);
}

TEST_F(FsTest, DirectoryLinkCountsAndRmdir) {
  auto d = m_fs->mkdir(FileSystem::kRootIno, "d", 0755, m_caller);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(m_fs->getattr(FileSystem::kRootIno)->nlink, 3u);
  ASSERT_TRUE(m_fs->mkdir(d->ino, "sub", 0755, m_caller).is_ok());
  EXPECT_EQ(m_fs->getattr(d->ino)->nlink, 3u);
  EXPECT_EQ(m_fs->rmdir(FileSystem::kRootIno, "d").err(), ENOTEMPTY);
  EXPECT_EQ(m_fs->unlink(FileSystem::kRootIno, "d").err(), EISDIR);
  ASSERT_TRUE(m_fs->rmdir(d->ino, "sub").is_ok());
  ASSERT_TRUE(m_fs->rmdir(FileSystem::kRootIno, "d").is_ok());
  EXPECT_EQ(m_fs->getattr(FileSystem::kRootIno)->nlink, 2u);
}

TEST_F(FsTest, SetgidDirectoryPassesGroupOn) {
  auto d = m_fs->mkdir(FileSystem::kRootIno, "g", 02775, m_caller);
  ASSERT_TRUE(d.is_ok());
  SetAttr sa;
  sa.valid = SetAttr::kGid;
  sa.gid = 4242;
  ASSERT_TRUE(m_fs->setattr(d->ino, sa, m_caller).is_ok());
  Caller other;
  other.uid = 1000;
  other.gid = 1000;
  auto f = m_fs->mknod(d->ino, "f", S_IFREG | 0644, 0, other);
  auto sub = m_fs->mkdir(d->ino, "s", 0755, other);
  EXPECT_EQ(f->gid, 4242u);
  EXPECT_EQ(sub->gid, 4242u);
  EXPECT_TRUE(sub->mode & S_ISGID);
  EXPECT_FALSE(f->mode & S_ISGID);
}

TEST_F(FsTest, UnalignedWritesReadBackExactly) {
  uint64_t f = mkfile("f");
  std::string model;
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % 70000;
    std::string data(1 + rng() % 9000, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    write(f, off, data);
    if (model.size() < off + data.size()) model.resize(off + data.size(), '\0');
    model.replace(off, data.size(), data);
  }
  EXPECT_EQ(read_all(f), model);
  reopen();
  EXPECT_EQ(read_all(f), model);
}

TEST_F(FsTest, TruncateZeroesTheTailBeforeExtending) {
  uint64_t f = mkfile("t");
  write(f, 0, std::string(10000, 'A'));
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 5000;
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  sa.size = 12000;
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  std::string expect = std::string(5000, 'A') + std::string(7000, '\0');
  EXPECT_EQ(read_all(f), expect);
  // Writing past EOF after a shrink must not resurrect old bytes either.
  sa.size = 3000;
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  write(f, 6000, "Z");
  expect = std::string(3000, 'A') + std::string(3000, '\0') + "Z";
  EXPECT_EQ(read_all(f), expect);
}

TEST_F(FsTest, SparseAndBeyondFourGiB) {
  uint64_t f = mkfile("s");
  uint64_t far = (5ull << 30) + 123;
  write(f, far, "tail");
  auto attr = m_fs->getattr(f);
  EXPECT_EQ(attr->size, far + 4);
  EXPECT_EQ(attr->alloc_bytes, 4096u);  // only one block is allocated
  char buf[8192];
  auto r = m_fs->read(f, 1ull << 30, sizeof(buf), buf);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value(), sizeof(buf));
  EXPECT_EQ(std::string(buf, sizeof(buf)), std::string(sizeof(buf), '\0'));
  r = m_fs->read(f, far, 100, buf);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(std::string(buf, r.value()), "tail");
}

TEST_F(FsTest, OverwritesFreeSpaceAfterDurableCommit) {
  uint64_t f = mkfile("o");
  std::string mb(1 << 20, 'x');
  write(f, 0, mb);
  auto before = m_fs->statfs();
  for (int i = 0; i < 20; ++i) write(f, 0, mb);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  auto after = m_fs->statfs();
  EXPECT_EQ(before.f_bfree, after.f_bfree) << "overwrites leaked space";
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "o").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(m_fs->statfs().f_bfree, m_fs->statfs().f_blocks);
}

TEST_F(FsTest, RenameSemantics) {
  auto a = m_fs->mkdir(FileSystem::kRootIno, "a", 0755, m_caller);
  auto b = m_fs->mkdir(a->ino, "b", 0755, m_caller);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(m_fs->rename(FileSystem::kRootIno, "a", b->ino, "x", 0).err(),
            EINVAL);  // into own subtree
  uint64_t f = mkfile("f");
  EXPECT_EQ(m_fs->rename(FileSystem::kRootIno, "f", FileSystem::kRootIno, "a", 0).err(), EISDIR);
  EXPECT_EQ(m_fs->rename(FileSystem::kRootIno, "a", FileSystem::kRootIno, "f", 0).err(), ENOTDIR);
  auto e = m_fs->mkdir(FileSystem::kRootIno, "e", 0755, m_caller);
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(m_fs->rename(FileSystem::kRootIno, "e", FileSystem::kRootIno, "a", 0).err(), ENOTEMPTY);
  // Moving a dir updates both parents' link counts and its '..'.
  ASSERT_TRUE(m_fs->rename(a->ino, "b", e->ino, "b2", 0).is_ok());
  EXPECT_EQ(m_fs->getattr(a->ino)->nlink, 2u);
  EXPECT_EQ(m_fs->getattr(e->ino)->nlink, 3u);
  auto list = m_fs->list_dir(b->ino);
  EXPECT_EQ((*list)[1].name, "..");
  EXPECT_EQ((*list)[1].ino, e->ino);
  // Replacing a file drops the old one.
  uint64_t g = mkfile("g");
  write(g, 0, "old");
  write(f, 0, "new");
  ASSERT_TRUE(m_fs->rename(FileSystem::kRootIno, "f", FileSystem::kRootIno, "g", 0).is_ok());
  EXPECT_EQ(m_fs->getattr(g).err(), ENOENT);
  EXPECT_EQ(read_all(m_fs->lookup(FileSystem::kRootIno, "g")->ino), "new");
  EXPECT_EQ(
      m_fs->rename(FileSystem::kRootIno, "g", FileSystem::kRootIno, "e", RENAME_NOREPLACE).err(),
      EEXIST);
}

TEST_F(FsTest, RenameExchangeSwapsFilesAndDirectories) {
  const uint64_t root = FileSystem::kRootIno;
  uint64_t f = mkfile("f");
  write(f, 0, "file");
  auto d = m_fs->mkdir(root, "d", 0755, m_caller);
  auto sub = m_fs->mkdir(d->ino, "sub", 0755, m_caller);
  ASSERT_TRUE(d.is_ok() && sub.is_ok());
  // Both names must exist, and the flag does not combine with NOREPLACE.
  EXPECT_EQ(m_fs->rename(root, "f", root, "missing", RENAME_EXCHANGE).err(), ENOENT);
  EXPECT_EQ(m_fs->rename(root, "f", root, "d", RENAME_EXCHANGE | RENAME_NOREPLACE).err(), EINVAL);
  EXPECT_EQ(m_fs->rename(root, "f", root, "d", 1u << 7).err(), EINVAL);

  // A file and a directory in different parents swap places atomically.
  ASSERT_TRUE(m_fs->rename(root, "f", d->ino, "sub", RENAME_EXCHANGE).is_ok());
  EXPECT_EQ(m_fs->lookup(root, "f")->ino, sub->ino);
  EXPECT_EQ(m_fs->lookup(d->ino, "sub")->ino, f);
  EXPECT_EQ(read_all(m_fs->lookup(d->ino, "sub")->ino), "file");
  // The directory moved from d to the root: link counts and '..' follow.
  EXPECT_EQ(m_fs->getattr(d->ino)->nlink, 2u);
  EXPECT_EQ(m_fs->getattr(root)->nlink, 4u);  // ., .., d/.., f/..
  auto list = m_fs->list_dir(sub->ino);
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ((*list)[1].ino, root);

  // Exchanging a directory with one of its descendants' entries is refused.
  auto inner = m_fs->mkdir(sub->ino, "inner", 0755, m_caller);
  ASSERT_TRUE(inner.is_ok());
  EXPECT_EQ(m_fs->rename(root, "f", sub->ino, "inner", RENAME_EXCHANGE).err(), EINVAL);
  // Exchanging two names of one inode changes nothing.
  ASSERT_TRUE(m_fs->link(f, root, "f2").is_ok());
  ASSERT_TRUE(m_fs->rename(d->ino, "sub", root, "f2", RENAME_EXCHANGE).is_ok());
  EXPECT_EQ(m_fs->lookup(root, "f2")->ino, f);
}

TEST_F(FsTest, SeekDataAndHoleFollowTheExtentMap) {
  uint64_t f = mkfile("sparse");
  const uint64_t k = FileSystem::kBlock;
  // data [0, 2k), hole [2k, 8k), data [8k, 9k), hole to the end at 16k
  write(f, 0, std::string(2 * k, 'a'));
  write(f, 8 * k, std::string(k, 'b'));
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 16 * k;
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  auto seek = [&](uint64_t off, int whence) { return m_fs->seek_data_or_hole(f, off, whence); };
  EXPECT_EQ(seek(0, SEEK_DATA).value(), 0u);
  EXPECT_EQ(seek(k, SEEK_DATA).value(), k);
  EXPECT_EQ(seek(0, SEEK_HOLE).value(), 2 * k);
  EXPECT_EQ(seek(3 * k, SEEK_HOLE).value(), 3 * k);  // already in a hole
  EXPECT_EQ(seek(3 * k, SEEK_DATA).value(), 8 * k);
  EXPECT_EQ(seek(8 * k, SEEK_HOLE).value(), 9 * k);
  EXPECT_EQ(seek(9 * k, SEEK_DATA).err(), ENXIO);  // only the tail hole left
  EXPECT_EQ(seek(10 * k, SEEK_HOLE).value(), 10 * k);
  EXPECT_EQ(seek(16 * k, SEEK_DATA).err(), ENXIO);  // at the end
  EXPECT_EQ(seek(16 * k, SEEK_HOLE).err(), ENXIO);
  EXPECT_EQ(seek(0, SEEK_SET).err(), EINVAL);
  // A file without holes: the only hole is its end.
  uint64_t g = mkfile("dense");
  write(g, 0, std::string(3 * k + 100, 'c'));
  EXPECT_EQ(m_fs->seek_data_or_hole(g, 5, SEEK_HOLE).value(), 3 * k + 100);
  // Past the written data of a file extended by truncate: ENXIO for data.
  auto d = m_fs->mkdir(FileSystem::kRootIno, "dir", 0755, m_caller);
  EXPECT_EQ(m_fs->seek_data_or_hole(d->ino, 0, SEEK_DATA).err(), EISDIR);
}

TEST_F(FsTest, FallocatePunchHoleFreesSpaceAndReadsZeros) {
  const uint64_t k = FileSystem::kBlock;
  uint64_t f = mkfile("p");
  write(f, 0, std::string(64 * k, 'x'));
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  uint64_t free_before = m_fs->statfs().f_bfree;
  uint64_t alloc_before = m_fs->getattr(f)->alloc_bytes;
  // Unaligned on both ends: 100 bytes into block 2 up to 200 bytes into block 40.
  const uint64_t off = 2 * k + 100, len = 38 * k + 100;
  ASSERT_TRUE(m_fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len).is_ok());
  std::string expect(64 * k, 'x');
  std::fill(expect.begin() + static_cast<long>(off), expect.begin() + static_cast<long>(off + len),
            '\0');
  EXPECT_EQ(read_all(f), expect);
  EXPECT_EQ(m_fs->getattr(f)->size, 64 * k);  // KEEP_SIZE
  EXPECT_LT(m_fs->getattr(f)->alloc_bytes, alloc_before);
  ASSERT_TRUE(m_fs->sync_all().is_ok());  // freed space is reusable after a durable commit
  EXPECT_GE(m_fs->statfs().f_bfree, free_before + 35);
  // The punched range is a hole for SEEK_HOLE/SEEK_DATA.
  EXPECT_EQ(m_fs->seek_data_or_hole(f, 0, SEEK_HOLE).value(), 3 * k);
  EXPECT_EQ(m_fs->seek_data_or_hole(f, 3 * k, SEEK_DATA).value(), 40 * k);
  // Punching past the end changes nothing; the size stays.
  ASSERT_TRUE(m_fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100 * k, k).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 64 * k);
}

TEST_F(FsTest, FallocateModes) {
  const uint64_t k = FileSystem::kBlock;
  uint64_t f = mkfile("m");
  write(f, 0, std::string(4 * k, 'y'));
  // Mode 0 extends the size; KEEP_SIZE does not.
  ASSERT_TRUE(m_fs->fallocate(f, 0, 0, 8 * k).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 8 * k);
  ASSERT_TRUE(m_fs->fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 16 * k).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 8 * k);
  // ZERO_RANGE zeroes inside and extends past the end.
  ASSERT_TRUE(m_fs->fallocate(f, FALLOC_FL_ZERO_RANGE, k, 10 * k).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 11 * k);
  std::string expect(11 * k, '\0');
  std::fill(expect.begin(), expect.begin() + static_cast<long>(k), 'y');
  EXPECT_EQ(read_all(f), expect);
  // What the pool cannot hold, and what is not supported.
  EXPECT_EQ(m_fs->fallocate(f, 0, 0, 1ull << 45).err(), ENOSPC);
  EXPECT_EQ(m_fs->fallocate(f, FALLOC_FL_COLLAPSE_RANGE, 0, k).err(), EOPNOTSUPP);
  EXPECT_EQ(m_fs->fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, k).err(), EOPNOTSUPP);
  EXPECT_EQ(m_fs->fallocate(f, 0, 0, 0).err(), EINVAL);
  auto d = m_fs->mkdir(FileSystem::kRootIno, "d", 0755, m_caller);
  EXPECT_EQ(m_fs->fallocate(d->ino, 0, 0, k).err(), EISDIR);
}

TEST_F(FsTest, FallocateReservesTheHolesOfItsRange) {
  const uint64_t k = FileSystem::kBlock;
  const uint64_t free0 = m_fs->statfs().f_bavail;
  uint64_t f = mkfile("r");
  write(f, 0, std::string(4 * k, 'a'));  // data in [0, 4k): not reserved again
  ASSERT_TRUE(m_fs->fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 64 * k).is_ok());
  auto rec = m_fs->getattr(f);
  EXPECT_EQ(rec->reserved_bytes, 60 * k);
  struct stat st {};
  rec->to_stat(&st);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 64 * k);
  EXPECT_EQ(m_fs->statfs().f_bavail, free0 - 64);
  // Writes turn reservation into data, partial blocks included; a second
  // write into the same block takes nothing more.
  write(f, 8 * k, std::string(2 * k, 'b'));
  write(f, 20 * k + 100, "c");
  write(f, 20 * k + 200, "d");
  EXPECT_EQ(m_fs->getattr(f)->reserved_bytes, 57 * k);
  // A punch gives back the holes it covers; a truncate what lies past the end.
  ASSERT_TRUE(
      m_fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 30 * k, 10 * k).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->reserved_bytes, 47 * k);
  // Kept across a remount, in the inode and in the pool.
  reopen();
  EXPECT_EQ(m_fs->getattr(f)->reserved_bytes, 47 * k);
  EXPECT_EQ(m_fs->statfs().f_bavail, free0 - 4 - 2 - 1 - 47);
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 12 * k;  // from 20k + 201
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  // [0, 12k) keeps its holes reserved: blocks 4-7, 10 and 11.
  EXPECT_EQ(m_fs->getattr(f)->reserved_bytes, 6 * k);
  EXPECT_EQ(m_fs->statfs().f_bavail, free0 - 6 - 6);
  // Unlink gives back the rest.
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "r").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(m_fs->statfs().f_bavail, free0);
}

TEST_F(FsTest, HardLinksAndUnlinkWhileOpen) {
  uint64_t f = mkfile("f");
  write(f, 0, "data");
  ASSERT_TRUE(m_fs->link(f, FileSystem::kRootIno, "g").is_ok());
  EXPECT_EQ(m_fs->getattr(f)->nlink, 2u);
  ASSERT_TRUE(m_fs->open_file(f, O_RDONLY).is_ok());
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "f").is_ok());
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "g").is_ok());
  EXPECT_EQ(read_all(f), "data");  // still readable while open
  ASSERT_TRUE(m_fs->release_file(f).is_ok());
  EXPECT_EQ(m_fs->getattr(f).err(), ENOENT);
}

TEST_F(FsTest, OrphansAreReclaimedAtNextMount) {
  uint64_t f = mkfile("f");
  write(f, 0, std::string(1 << 20, 'q'));
  ASSERT_TRUE(m_fs->open_file(f, O_RDONLY).is_ok());
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "f").is_ok());
  reopen();  // the daemon went away with the file still open
  EXPECT_EQ(m_fs->getattr(f).err(), ENOENT);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(m_fs->statfs().f_bfree, m_fs->statfs().f_blocks);
}

TEST_F(FsTest, XattrFlagsAndErrors) {
  uint64_t f = mkfile("x");
  EXPECT_EQ(m_fs->getxattr(f, "user.a").err(), ENODATA);
  EXPECT_EQ(m_fs->setxattr(f, "user.a", "1", XATTR_REPLACE).err(), ENODATA);
  ASSERT_TRUE(m_fs->setxattr(f, "user.a", "1", XATTR_CREATE).is_ok());
  EXPECT_EQ(m_fs->setxattr(f, "user.a", "2", XATTR_CREATE).err(), EEXIST);
  ASSERT_TRUE(m_fs->setxattr(f, "user.a", "2", XATTR_REPLACE).is_ok());
  EXPECT_EQ(m_fs->getxattr(f, "user.a").value(), "2");
  ASSERT_TRUE(m_fs->setxattr(f, "user.b", "", 0).is_ok());
  EXPECT_EQ(m_fs->listxattr(f).value(), (std::vector<std::string>{"user.a", "user.b"}));
  ASSERT_TRUE(m_fs->removexattr(f, "user.a").is_ok());
  EXPECT_EQ(m_fs->removexattr(f, "user.a").err(), ENODATA);
  EXPECT_EQ(m_fs->setxattr(f, "user.big", std::string(70000, 'v'), 0).err(), E2BIG);
}

TEST_F(FsTest, SymlinkTargetsSurviveReopen) {
  auto s = m_fs->symlink(FileSystem::kRootIno, "l", "../some/where", m_caller);
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->size, 13u);
  reopen();
  EXPECT_EQ(m_fs->readlink(s->ino).value(), "../some/where");
  EXPECT_TRUE(m_fs->listxattr(s->ino)->empty());
  EXPECT_EQ(m_fs->readlink(FileSystem::kRootIno).err(), EINVAL);
}

TEST_F(FsTest, CorruptBlockIsEioNotWrongData) {
  uint64_t f = mkfile("c");
  write(f, 0, std::string(8192, 'c'));
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  // Flip a byte of the data area of whichever disk holds the file.
  for (size_t d = 0; d < m_fs->volume().disk_count(); ++d) {
    auto disk = Disk::open(m_fs->volume().disk(d).path());
    std::string block(4096, '\0');
    ASSERT_TRUE(disk.value()->read_at(block.data(), 4096, 1 << 20).is_ok());
    if (block[0] == 'c') {
      block[100] = 'X';
      ASSERT_TRUE(disk.value()->write_at(block.data(), 4096, 1 << 20).is_ok());
    }
  }
  char buf[8192];
  auto r = m_fs->read(f, 0, sizeof(buf), buf);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EIO);
  EXPECT_EQ(m_fs->stats().checksum_errors, 1u);
}

TEST_F(FsTest, CountsSurviveCleanAndDirtyReopen) {
  for (int i = 0; i < 50; ++i) mkfile("f" + std::to_string(i));
  uint64_t inodes = m_fs->stats().inodes;
  EXPECT_EQ(inodes, 51u);
  reopen();
  EXPECT_EQ(m_fs->stats().inodes, 51u);
}

TEST_F(FsTest, OpenWithTruncEmptiesWritableOpensOnly) {
  uint64_t f = mkfile("t");
  write(f, 0, "keep me");
  ASSERT_TRUE(m_fs->open_file(f, O_RDONLY | O_TRUNC).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 7u);
  ASSERT_TRUE(m_fs->open_file(f, O_WRONLY | O_TRUNC).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->size, 0u);
  EXPECT_EQ(m_fs->getattr(f)->alloc_bytes, 0u);
  ASSERT_TRUE(m_fs->release_file(f).is_ok());
  ASSERT_TRUE(m_fs->release_file(f).is_ok());
}

TEST_F(FsTest, OpenDirectorySurvivesRmdirUntilReleased) {
  auto d = m_fs->mkdir(FileSystem::kRootIno, "d", 0755, m_caller);
  ASSERT_TRUE(d.is_ok());
  ASSERT_TRUE(m_fs->open_dir(d->ino).is_ok());
  ASSERT_TRUE(m_fs->rmdir(FileSystem::kRootIno, "d").is_ok());
  auto attr = m_fs->getattr(d->ino);
  ASSERT_TRUE(attr.is_ok());
  EXPECT_EQ(attr->nlink, 0u);
  EXPECT_EQ(m_fs->mknod(d->ino, "x", S_IFREG | 0644, 0, m_caller).err(), ENOENT);
  ASSERT_TRUE(m_fs->release_file(d->ino).is_ok());
  EXPECT_EQ(m_fs->getattr(d->ino).err(), ENOENT);
  EXPECT_EQ(m_fs->stats().inodes, 1u);
}

TEST_F(FsTest, ReadUpdatesAtimeRelatimeStyle) {
  uint64_t f = mkfile("a");
  write(f, 0, "x");
  SetAttr sa;
  sa.valid = SetAttr::kAtime;
  sa.atime = {1000, 0};  // older than mtime
  ASSERT_TRUE(m_fs->setattr(f, sa, m_caller).is_ok());
  char c;
  ASSERT_TRUE(m_fs->read(f, 0, 1, &c).is_ok());
  auto after = m_fs->getattr(f);
  EXPECT_GT(after->atime, after->mtime);
  // A second read right away leaves it alone (no metadata write per read).
  Timestamp first = after->atime;
  ASSERT_TRUE(m_fs->read(f, 0, 1, &c).is_ok());
  EXPECT_EQ(m_fs->getattr(f)->atime, first);
}

TEST_F(FsTest, ScrubFindsCorruptionAndIgnoresRewrittenData) {
  uint64_t f = mkfile("s");
  write(f, 0, std::string(3 * 4096, 's'));
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  Scrubber clean(*m_fs);
  auto r = clean.run();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->extents, 1u);
  EXPECT_EQ(r->bytes, 3u * 4096);
  EXPECT_EQ(r->checksum_errors, 0u);
  for (size_t d = 0; d < m_fs->volume().disk_count(); ++d) {
    auto disk = Disk::open(m_fs->volume().disk(d).path());
    std::string block(4096, '\0');
    ASSERT_TRUE(disk.value()->read_at(block.data(), 4096, (1 << 20) + 4096).is_ok());
    if (block[0] == 's') {
      block[7] = 'X';
      ASSERT_TRUE(disk.value()->write_at(block.data(), 4096, (1 << 20) + 4096).is_ok());
    }
  }
  Scrubber dirty(*m_fs);
  dirty.set_rate(/*rate_bytes_per_sec=*/1 << 30);
  r = dirty.run();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->checksum_errors, 1u);
  ASSERT_EQ(r->problems.size(), 1u);
  EXPECT_NE(r->problems[0].find("inode " + std::to_string(f)), std::string::npos) << r->problems[0];
}

TEST_F(FsTest, CopyRangeSharesBlocksUntilTheLastReferenceGoes) {
  uint64_t a = mkfile("a"), b = mkfile("b");
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
  write(a, 0, data);
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  const auto free_before = m_fs->statfs().f_bfree;
  auto n = m_fs->copy_range(a, 0, b, 0, data.size());
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(n.value(), data.size());
  EXPECT_EQ(m_fs->statfs().f_bfree, free_before) << "a shared copy took space";
  EXPECT_EQ(read_all(b), data);
  // A write to the source goes elsewhere; the copy keeps the old bytes.
  write(a, 4096, std::string(8192, 'z'));
  EXPECT_EQ(read_all(b), data);
  reopen();  // the shared counts come back from the clean-unmount checkpoint
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "a").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(read_all(b), data) << "deleting the source freed shared blocks";
  EXPECT_EQ(m_fs->statfs().f_bfree, free_before) << "only the blocks a alone held were freed";
  ASSERT_TRUE(m_fs->unlink(FileSystem::kRootIno, "b").is_ok());
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  EXPECT_EQ(m_fs->statfs().f_bfree, m_fs->statfs().f_blocks);
}

TEST_F(FsTest, CopyRangeEdgesAndErrors) {
  uint64_t a = mkfile("a"), b = mkfile("b");
  std::string data(3 * 4096 + 100, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
  write(a, 0, data);
  // Same phase within a block: edges copied, the middle shared.
  auto n = m_fs->copy_range(a, 100, b, 4196, 2 * 4096 + 50);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(n.value(), 2u * 4096 + 50);
  std::string want(4196, '\0');
  want += data.substr(100, 2 * 4096 + 50);
  EXPECT_EQ(read_all(b), want);
  // Different phase: copied byte for byte; past the end of the source: 0.
  n = m_fs->copy_range(a, 1, b, 0, 5000);
  ASSERT_TRUE(n.is_ok());
  want.replace(0, 5000, data.substr(1, 5000));
  EXPECT_EQ(read_all(b), want);
  n = m_fs->copy_range(a, data.size(), b, 0, 10);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(n.value(), 0u);
  // Overlapping ranges of one file, directories.
  EXPECT_EQ(m_fs->copy_range(a, 0, a, 4096, 8192).err(), EINVAL);
  EXPECT_TRUE(m_fs->copy_range(a, 0, a, 8192, 4096).is_ok());
  EXPECT_EQ(m_fs->copy_range(FileSystem::kRootIno, 0, b, 0, 10).err(), EISDIR);
}

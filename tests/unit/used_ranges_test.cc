// UsedRanges on real disks: ext4 images made with mkfs.ext4 and filled with
// debugfs (no mount), and dynamicfs volumes written through FileSystem. The
// strongest check copies only the used ranges of each disk into blank disks
// and reads every file back from the copy.
#include "src/replication/used_ranges.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "metadata/extent_record.h"
#include "metadata/meta_store.h"
#include "src/fs/file_system.h"
#include "tests/unit/test_files.h"

using namespace dynamicfs;

namespace {

namespace fs = std::filesystem;

using test_files::random_bytes;
using test_files::write_file;

void make_sparse(const std::string& path, uint64_t size) {
  { std::ofstream out(path, std::ios::binary | std::ios::trunc); }
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(size)), 0) << path;
}

using test_files::read_range;

// PATH of an e2fsprogs tool, also looking in the sbin directories a test's
// PATH may lack; "" if it is not installed.
std::string find_tool(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) dirs.push_back(d);
  }
  for (const char* d : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) dirs.emplace_back(d);
  for (const auto& d : dirs) {
    std::string p = d + "/" + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Runs a shell command; its exit code and standard output.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return {-1, out};
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

bool covered(const std::vector<ByteRange>& ranges, uint64_t offset, uint64_t length) {
  for (const auto& r : ranges) {
    if (r.offset <= offset && offset + length <= r.end()) return true;
  }
  return false;
}

// Sorted, non-empty, and neither overlapping nor touching (fully merged).
void expect_canonical(const std::vector<ByteRange>& ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_GT(ranges[i].length, 0u) << "range " << i;
    if (i > 0) {
      EXPECT_GT(ranges[i].offset, ranges[i - 1].end()) << "range " << i;
    }
  }
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-usedranges-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { fs::remove_all(m_dir); }
  std::string m_dir;
};

// ---------------------------------------------------------------------------
// normalize, full, detect on plain files

TEST(NormalizeTest, SortsAndMergesOverlappingAndAdjacent) {
  EXPECT_TRUE(UsedRanges::normalize({}, 4096, 1 << 20).empty());
  auto r =
      UsedRanges::normalize({{100, 50}, {0, 10}, {10, 5}, {120, 100}, {30, 0}, {160, 10}}, 1, 1000);
  EXPECT_EQ(r, (std::vector<ByteRange>{{0, 15}, {100, 120}}));
  // A range inside another disappears.
  r = UsedRanges::normalize({{0, 100}, {10, 20}}, 1, 1000);
  EXPECT_EQ(r, (std::vector<ByteRange>{{0, 100}}));
  // Align 0 means no widening.
  r = UsedRanges::normalize({{7, 3}}, 0, 1000);
  EXPECT_EQ(r, (std::vector<ByteRange>{{7, 3}}));
}

TEST(NormalizeTest, AlignsOutwardAndMergesWhatAlignmentJoins) {
  EXPECT_EQ(UsedRanges::normalize({{5000, 10}}, 4096, 1 << 20),
            (std::vector<ByteRange>{{4096, 4096}}));
  EXPECT_EQ(UsedRanges::normalize({{4095, 2}}, 4096, 1 << 20), (std::vector<ByteRange>{{0, 8192}}));
  EXPECT_EQ(UsedRanges::normalize({{8192, 4096}}, 4096, 1 << 20),
            (std::vector<ByteRange>{{8192, 4096}}));
  // Both land in neighbouring blocks after widening: one range.
  EXPECT_EQ(UsedRanges::normalize({{0, 100}, {4100, 10}}, 4096, 1 << 20),
            (std::vector<ByteRange>{{0, 8192}}));
  // A whole free block between them: two ranges.
  EXPECT_EQ(UsedRanges::normalize({{0, 100}, {8200, 1}}, 4096, 1 << 20),
            (std::vector<ByteRange>{{0, 4096}, {8192, 4096}}));
}

TEST(NormalizeTest, ClampsToTheDisk) {
  // Widening stops at the end of the disk, which need not be aligned.
  EXPECT_EQ(UsedRanges::normalize({{10000, 5000}}, 4096, 12000),
            (std::vector<ByteRange>{{8192, 12000 - 8192}}));
  EXPECT_EQ(UsedRanges::normalize({{11999, 1}}, 4096, 12000),
            (std::vector<ByteRange>{{8192, 12000 - 8192}}));
  // Wholly beyond the end: dropped.
  EXPECT_TRUE(UsedRanges::normalize({{20000, 10}, {12000, 1}}, 4096, 12000).empty());
  EXPECT_TRUE(UsedRanges::normalize({{0, 10}}, 4096, 0).empty());
  // offset + length overflowing 64 bits saturates instead of wrapping.
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t begin = (kMax - 10) / 4096 * 4096;
  EXPECT_EQ(UsedRanges::normalize({{kMax - 10, 100}}, 4096, kMax),
            (std::vector<ByteRange>{{begin, kMax - begin}}));
}

using PlainFileTest = TempDir;

TEST_F(PlainFileTest, FullIsTheWholeDisk) {
  std::string f = m_dir + "/f";
  make_sparse(f, (5ull << 20) + 123);
  auto r = UsedRanges::full(f);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r.value(), (std::vector<ByteRange>{{0, (5ull << 20) + 123}}));
  make_sparse(f, 0);
  r = UsedRanges::full(f);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(UsedRanges::full(m_dir + "/missing").err(), ENOENT);
}

TEST_F(PlainFileTest, DetectsUnknownContent) {
  std::string f = m_dir + "/random";
  write_file(f, random_bytes(1 << 20, 1));
  auto c = UsedRanges::detect(f);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c.value(), DiskContent::kUnknown);
  // Too small to hold either superblock.
  write_file(f, "DYNFSDS");
  EXPECT_EQ(UsedRanges::detect(f).value(), DiskContent::kUnknown);
  write_file(f, "");
  EXPECT_EQ(UsedRanges::detect(f).value(), DiskContent::kUnknown);
  EXPECT_EQ(UsedRanges::detect(m_dir + "/missing").err(), ENOENT);
}

TEST_F(PlainFileTest, ExtUsedRefusesAFileWithoutExtFilesystem) {
  std::string f = m_dir + "/random";
  write_file(f, random_bytes(4 << 20, 2));
  auto r = UsedRanges::ext_used(f);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EINVAL);
  EXPECT_NE(r.status().message().find("no valid ext2/3/4 filesystem"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(UsedRanges::ext_used(m_dir + "/missing").err(), ENOENT);
}

TEST_F(PlainFileTest, ReadOnlyDiskReadsButDoesNotWrite) {
  std::string f = m_dir + "/d";
  write_file(f, "0123456789");
  auto d = Disk::open_read_only(f);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d.value()->size(), 10u);
  char buf[4];
  ASSERT_TRUE(d.value()->read_at(buf, 4, 3).is_ok());
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_EQ(d.value()->write_at("x", 1, 0).err(), EBADF);
  EXPECT_EQ(read_range(f, 0, 10), "0123456789");
}

// ---------------------------------------------------------------------------
// ext2/3/4 images, made and filled without mounting

class ExtTest : public TempDir, public ::testing::WithParamInterface<unsigned> {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    m_mkfs = find_tool("mkfs.ext4");
    m_debugfs = find_tool("debugfs");
    m_dumpe2fs = find_tool("dumpe2fs");
    if (m_mkfs.empty() || m_debugfs.empty() || m_dumpe2fs.empty()) {
      GTEST_SKIP() << "mkfs.ext4, debugfs or dumpe2fs is not installed";
    }
    m_img = m_dir + "/ext.img";
    make_sparse(m_img, kImageSize);
    auto [rc, out] = run(m_mkfs + " -q -F -b " + std::to_string(GetParam()) + " " + m_img);
    ASSERT_EQ(rc, 0) << "mkfs.ext4 failed";
  }

  // Writes DATA as /NAME into the image with debugfs; returns its block numbers.
  std::vector<uint64_t> debugfs_write(const std::string& name, const std::string& data) {
    std::string src = m_dir + "/" + name + ".src";
    write_file(src, data);
    auto [rc, out] = run(m_debugfs + " -w -R \"write " + src + " " + name + "\" " + m_img);
    EXPECT_EQ(rc, 0);
    auto [rc2, blocks] = run(m_debugfs + " -R \"blocks " + name + "\" " + m_img);
    EXPECT_EQ(rc2, 0);
    std::vector<uint64_t> out_blocks;
    std::stringstream ss(blocks);
    uint64_t b = 0;
    while (ss >> b) out_blocks.push_back(b);
    return out_blocks;
  }

  // A numeric field of `dumpe2fs -h`, e.g. "Block size".
  uint64_t header_field(const std::string& field) {
    auto [rc, out] = run(m_dumpe2fs + " -h " + m_img);
    EXPECT_EQ(rc, 0);
    std::stringstream ss(out);
    std::string line;
    while (std::getline(ss, line)) {
      if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
    }
    ADD_FAILURE() << "no '" << field << "' in dumpe2fs output";
    return 0;
  }

  static constexpr uint64_t kImageSize = 64ull << 20;
  std::string m_mkfs, m_debugfs, m_dumpe2fs, m_img;
};

TEST_P(ExtTest, UsedRangesFollowTheBlockBitmap) {
  const std::string data = random_bytes(300 * 1024 + 77, 3);
  std::vector<uint64_t> blocks = debugfs_write("known", data);
  const uint64_t bs = header_field("Block size");
  ASSERT_EQ(bs, GetParam());
  ASSERT_EQ(blocks.size(), (data.size() + bs - 1) / bs);
  // The test reads the layout right: the file's first block holds its first bytes.
  ASSERT_EQ(read_range(m_img, blocks[0] * bs, bs), data.substr(0, bs));

  auto c = UsedRanges::detect(m_img);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c.value(), DiskContent::kExt);

  auto r = UsedRanges::ext_used(m_img);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const auto& ranges = r.value();
  expect_canonical(ranges);
  ASSERT_FALSE(ranges.empty());
  // The boot area and the primary superblock (bytes 1024..2047).
  EXPECT_EQ(ranges[0].offset, 0u);
  EXPECT_GE(ranges[0].length, 2048u);
  EXPECT_LE(ranges.back().end(), kImageSize);
  for (uint64_t b : blocks) EXPECT_TRUE(covered(ranges, b * bs, bs)) << "block " << b;

  // Exactly the blocks the filesystem counts as not free (block 0 of a
  // 1 KiB-block filesystem lies outside the bitmap but is not free either).
  const uint64_t total = UsedRanges::total_bytes(ranges);
  EXPECT_EQ(total, (header_field("Block count") - header_field("Free blocks")) * bs);
  EXPECT_GT(total, data.size());
  EXPECT_LT(total, kImageSize / 4);
}

TEST_P(ExtTest, RefusesAJournalThatNeedsRecovery) {
  debugfs_write("f", random_bytes(10000, 4));
  ASSERT_TRUE(UsedRanges::ext_used(m_img).is_ok());
  auto [rc, out] = run(m_debugfs + " -w -R \"feature needs_recovery\" " + m_img);
  ASSERT_EQ(rc, 0);
  ASSERT_NE(run(m_dumpe2fs + " -h " + m_img).second.find("needs_recovery"), std::string::npos);
  auto r = UsedRanges::ext_used(m_img);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EUCLEAN);
  EXPECT_NE(r.status().message().find("needs recovery"), std::string::npos) << r.status().message();
}

INSTANTIATE_TEST_SUITE_P(BlockSizes, ExtTest, ::testing::Values(1024u, 4096u),
                         [](const auto& info) { return std::to_string(info.param); });

// ---------------------------------------------------------------------------
// dynamicfs volumes

class DynamicfsTest : public TempDir {
 protected:
  static constexpr uint64_t kDiskSize = 128ull << 20;

  void SetUp() override {
    TempDir::SetUp();
    m_vol = m_dir + "/vol";
    m_disks = {m_dir + "/d0", m_dir + "/d1"};
    FormatOptions f;
    f.volume_dir = m_vol;
    f.disks = m_disks;
    f.create_size = kDiskSize;
    Status st = Volume::format(f);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    auto fs = open_fs(m_vol);
    ASSERT_TRUE(fs.is_ok()) << fs.status().to_string();
    m_fs = std::move(fs).value();
    // Several files of odd sizes, one partly overwritten (so some space is
    // freed and one extent trimmed).
    const std::vector<size_t> sizes = {(1 << 20) + 123, 300000, 5 << 20, 4096, 17, 70000};
    for (size_t i = 0; i < sizes.size(); ++i) {
      std::string name = "f" + std::to_string(i);
      m_files[name] = random_bytes(sizes[i], 100 + static_cast<uint32_t>(i));
      write_through(name, 0, m_files[name]);
    }
    std::string patch = random_bytes(50000, 99);
    write_through("f2", 1000000, patch);
    m_files["f2"].replace(1000000, patch.size(), patch);
  }

  void TearDown() override {
    m_fs.reset();
    TempDir::TearDown();
  }

  static Result<std::unique_ptr<FileSystem>> open_fs(const std::string& vol_dir) {
    DFS_ASSIGN_OR_RETURN(auto vol, Volume::open(vol_dir));
    return FileSystem::open(std::move(vol));
  }

  void write_through(const std::string& name, uint64_t off, const std::string& data) {
    auto ino = m_fs->lookup(FileSystem::kRootIno, name);
    uint64_t n = 0;
    if (ino.is_ok()) {
      n = ino->ino;
    } else {
      auto made = m_fs->mknod(FileSystem::kRootIno, name, S_IFREG | 0644, 0, m_caller);
      ASSERT_TRUE(made.is_ok()) << made.status().to_string();
      n = made->ino;
    }
    auto w = m_fs->write(n, off, data.data(), data.size());
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
    ASSERT_EQ(w.value(), data.size());
  }

  void shutdown() {
    ASSERT_TRUE(m_fs->shutdown().is_ok());
    m_fs.reset();
  }

  // Every extent in the volume's metadata, read here independently.
  std::vector<ExtentRecord> all_extents() {
    std::vector<ExtentRecord> out;
    auto meta = MetaStore::open_read_only(Volume::meta_dir(m_vol));
    EXPECT_TRUE(meta.is_ok()) << meta.status().to_string();
    if (!meta.is_ok()) return out;
    auto it = meta.value()->iterator(Cf::kExtents);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto rec = ExtentRecord::decode(std::string_view(it->value().data(), it->value().size()));
      EXPECT_TRUE(rec.is_ok());
      if (rec.is_ok()) out.push_back(rec.value());
    }
    return out;
  }

  // A copy of the volume in DEST whose disks hold only RANGES of the
  // originals (zeros elsewhere).
  void clone_volume(const std::string& dest, const std::vector<std::vector<ByteRange>>& ranges) {
    fs::copy(m_vol, dest + "/vol", fs::copy_options::recursive);
    auto cfg = VolumeConfig::load(dest + "/vol");
    ASSERT_TRUE(cfg.is_ok()) << cfg.status().to_string();
    for (size_t d = 0; d < m_disks.size(); ++d) {
      std::string copy = dest + "/d" + std::to_string(d);
      make_sparse(copy, kDiskSize);
      std::fstream out(copy, std::ios::binary | std::ios::in | std::ios::out);
      for (const auto& r : ranges[d]) {
        std::string bytes = read_range(m_disks[d], r.offset, r.length);
        ASSERT_EQ(bytes.size(), r.length);
        out.seekp(static_cast<std::streamoff>(r.offset));
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      ASSERT_TRUE(out.good());
      cfg->disks[d].path = copy;
    }
    ASSERT_TRUE(cfg->save(dest + "/vol").is_ok());
  }

  // Reads every written file from the volume in VOL_DIR; the names of those
  // that fail or differ.
  std::vector<std::string> bad_files(const std::string& vol_dir) {
    std::vector<std::string> bad;
    auto fsr = open_fs(vol_dir);
    EXPECT_TRUE(fsr.is_ok()) << fsr.status().to_string();
    if (!fsr.is_ok()) return {"<volume>"};
    auto& fsys = *fsr.value();
    for (const auto& [name, expected] : m_files) {
      auto ino = fsys.lookup(FileSystem::kRootIno, name);
      std::string buf(expected.size(), '\0');
      auto r = ino.is_ok() ? fsys.read(ino->ino, 0, buf.size(), buf.data())
                           : Result<size_t>(ino.status());
      if (!r.is_ok() || r.value() != expected.size() || buf != expected) bad.push_back(name);
    }
    EXPECT_TRUE(fsys.shutdown().is_ok());
    return bad;
  }

  std::string m_vol;
  std::vector<std::string> m_disks;
  std::unique_ptr<FileSystem> m_fs;
  std::map<std::string, std::string> m_files;
  Caller m_caller;
};

TEST_F(DynamicfsTest, DetectsADynamicfsDisk) {
  for (const auto& d : m_disks) {
    auto c = UsedRanges::detect(d);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    EXPECT_EQ(c.value(), DiskContent::kDynamicfs) << d;
  }
}

TEST_F(DynamicfsTest, CoversMetadataAreaAndEveryExtent) {
  // While mounted (the metadata store is locked by the FileSystem), a reader
  // sees the metadata as of the last sync (the daemon syncs every second).
  ASSERT_TRUE(m_fs->sync_all().is_ok());
  std::vector<std::vector<ByteRange>> live;
  for (const auto& d : m_disks) {
    auto r = UsedRanges::dynamicfs_used(d, m_vol);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    live.push_back(r.value());
  }
  shutdown();

  std::vector<std::vector<ByteRange>> ranges;
  for (const auto& d : m_disks) {
    auto r = UsedRanges::dynamicfs_used(d, m_vol);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ranges.push_back(r.value());
  }
  EXPECT_EQ(live, ranges);

  uint64_t file_bytes = 0;
  for (const auto& [name, data] : m_files) file_bytes += data.size();
  uint64_t used_total = 0;
  for (size_t d = 0; d < ranges.size(); ++d) {
    expect_canonical(ranges[d]);
    ASSERT_FALSE(ranges[d].empty());
    EXPECT_EQ(ranges[d][0].offset, 0u);
    EXPECT_GE(ranges[d][0].length, Superblock::kDataStart);
    EXPECT_LE(ranges[d].back().end(), kDiskSize);
    uint64_t total = UsedRanges::total_bytes(ranges[d]);
    EXPECT_LT(total, kDiskSize / 4) << "disk " << d;
    used_total += total - Superblock::kDataStart;
  }
  std::vector<ExtentRecord> extents = all_extents();
  ASSERT_FALSE(extents.empty());
  uint64_t extent_bytes = 0;
  for (const auto& e : extents) {
    for (const auto& c : e.copies) {
      ASSERT_LT(c.disk, ranges.size());
      EXPECT_TRUE(covered(ranges[c.disk], c.offset, e.length))
          << "disk " << c.disk << " offset " << c.offset << " length " << e.length;
      extent_bytes += e.length;
    }
  }
  // Nothing but the metadata area and the extents (which never overlap).
  EXPECT_EQ(used_total, extent_bytes);
  EXPECT_GE(extent_bytes, file_bytes);
}

TEST_F(DynamicfsTest, CopyOfOnlyTheUsedRangesReadsBack) {
  shutdown();
  std::vector<std::vector<ByteRange>> ranges;
  for (const auto& d : m_disks) {
    auto r = UsedRanges::dynamicfs_used(d, m_vol);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ranges.push_back(UsedRanges::normalize(r.value(), 4096, kDiskSize));
  }
  fs::create_directories(m_dir + "/good");
  clone_volume(m_dir + "/good", ranges);
  EXPECT_EQ(bad_files(m_dir + "/good/vol"), std::vector<std::string>{});

  // Control: leave out the last range of a disk and some file is lost
  // (its blocks read as zeros and fail their checksums).
  for (auto& r : ranges) {
    if (r.size() > 1) {
      r.pop_back();
      break;
    }
  }
  fs::create_directories(m_dir + "/short");
  clone_volume(m_dir + "/short", ranges);
  EXPECT_FALSE(bad_files(m_dir + "/short/vol").empty());
}

TEST_F(DynamicfsTest, RefusesDisksItCannotVouchFor) {
  shutdown();
  // A disk of another volume.
  FormatOptions f;
  f.volume_dir = m_dir + "/other";
  f.disks = {m_dir + "/e0"};
  f.create_size = 64ull << 20;
  ASSERT_TRUE(Volume::format(f).is_ok());
  auto r = UsedRanges::dynamicfs_used(m_dir + "/e0", m_vol);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EXDEV);
  EXPECT_NE(r.status().message().find("another volume"), std::string::npos) << r.status().message();
  // ...and the other way round.
  EXPECT_EQ(UsedRanges::dynamicfs_used(m_disks[0], m_dir + "/other").err(), EXDEV);

  // A disk of this volume that its volume.toml does not list.
  fs::create_directories(m_dir + "/trimmed");
  auto cfg = VolumeConfig::load(m_vol);
  ASSERT_TRUE(cfg.is_ok());
  cfg->disks.pop_back();
  ASSERT_TRUE(cfg->save(m_dir + "/trimmed").is_ok());
  r = UsedRanges::dynamicfs_used(m_disks[1], m_dir + "/trimmed");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EXDEV);
  EXPECT_NE(r.status().message().find("not listed"), std::string::npos) << r.status().message();

  // Not a dynamicfs disk at all.
  write_file(m_dir + "/junk", random_bytes(1 << 20, 5));
  r = UsedRanges::dynamicfs_used(m_dir + "/junk", m_vol);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), EINVAL);
  EXPECT_NE(r.status().message().find("bad magic"), std::string::npos) << r.status().message();
}

}  // namespace

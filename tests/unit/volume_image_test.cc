// VolumeImage: the metadata pack round-trips and refuses damage, ranges are
// cut at piece boundaries, and the volume description round-trips and
// refuses malformed input.
#include "src/replication/volume_image.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace dynamicfs {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-pack-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    std::filesystem::create_directories(m_dir + "/in");
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  void write(const std::string& name, const std::string& data) {
    std::ofstream(m_dir + "/in/" + name, std::ios::binary) << data;
  }
  std::string m_dir;
};

TEST_F(PackTest, RoundTripsEveryFileAndEndsOnAWholeBlock) {
  unsigned seed = std::random_device{}();
  std::printf("PackTest seed=%u\n", seed);
  std::mt19937 rng(seed);
  std::map<std::string, std::string> files;
  for (int i = 0; i < 7; ++i) {
    std::string data(rng() % 50000, '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    files["f" + std::to_string(i)] = data;
    write("f" + std::to_string(i), data);
  }
  files["empty"] = "";
  write("empty", "");
  ASSERT_TRUE(VolumeImage::pack(m_dir + "/in", m_dir + "/p").is_ok());
  EXPECT_EQ(std::filesystem::file_size(m_dir + "/p") % 16384, 0u);
  ASSERT_TRUE(VolumeImage::unpack(m_dir + "/p", m_dir + "/out").is_ok());
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(m_dir + "/out")) {
    ++n;
    std::string name = e.path().filename().string();
    ASSERT_TRUE(files.count(name)) << name;
    EXPECT_EQ(read_file(e.path().string()), files[name]) << name;
  }
  EXPECT_EQ(n, files.size());
}

TEST_F(PackTest, RefusesDamage) {
  write("a", "hello");
  ASSERT_TRUE(VolumeImage::pack(m_dir + "/in", m_dir + "/p").is_ok());
  std::string good = read_file(m_dir + "/p");
  auto try_unpack = [&](const std::string& bytes) {
    std::ofstream(m_dir + "/bad", std::ios::binary | std::ios::trunc) << bytes;
    return VolumeImage::unpack(m_dir + "/bad", m_dir + "/out");
  };
  EXPECT_EQ(try_unpack("not a pack").err(), EUCLEAN);
  std::string trailing = good;
  trailing.back() = 'x';  // the padding must be zeros
  EXPECT_EQ(try_unpack(trailing).err(), EUCLEAN);
  std::string truncated = good.substr(0, 20);
  EXPECT_EQ(try_unpack(truncated).err(), EUCLEAN);
  std::string escape = good;
  auto at = escape.find('a', 12);  // the name "a" becomes "/"
  ASSERT_NE(at, std::string::npos);
  escape[at] = '/';
  EXPECT_EQ(try_unpack(escape).err(), EUCLEAN);
}

TEST(VolumeImage, SplitsRangesAtPieceBoundaries) {
  auto got = VolumeImage::split_at({{0, 100}, {1000, 3000}, {8192, 4096}}, 2048);
  std::vector<ByteRange> want = {{0, 100}, {1000, 1048}, {2048, 1952}, {8192, 2048}, {10240, 2048}};
  EXPECT_EQ(got, want);
}

TEST(VolumeImage, DescriptionRoundTripsAndRefusesMalformedInput) {
  VolumeImageSpec s;
  s.volume_uuid[0] = 7;
  s.snapshot = "nightly";
  s.snapshot_id = 3;
  s.snapshot_created_ns = 1764547200123456789;
  s.replicas = 2;
  s.pack_size = 16384;
  s.settings["io_workers"] = "4";
  for (uint32_t i = 0; i < 3; ++i) {
    VolumeImageSpec::DiskEntry d;
    d.index = i;
    d.uuid[1] = static_cast<uint8_t>(i + 1);
    d.size = (i + 1) << 26;
    d.removed = i == 1;
    s.disks.push_back(d);
  }
  auto back = VolumeImageSpec::from_json(s.to_json());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->volume_uuid, s.volume_uuid);
  EXPECT_EQ(back->snapshot, "nightly");
  EXPECT_EQ(back->snapshot_id, 3u);
  EXPECT_EQ(back->snapshot_created_ns, s.snapshot_created_ns);
  EXPECT_EQ(back->replicas, 2u);
  EXPECT_EQ(back->settings, s.settings);
  ASSERT_EQ(back->disks.size(), 3u);
  EXPECT_TRUE(back->disks[1].removed);
  EXPECT_EQ(back->disks[2].size, uint64_t{3} << 26);
  EXPECT_EQ(VolumeImageSpec::from_json("[]").err(), EINVAL);
  EXPECT_EQ(VolumeImageSpec::from_json("{\"snapshot\": 1}").err(), EINVAL);
  std::string gap = s.to_json();
  gap.replace(gap.find("\"index\":1"), 9, "\"index\":5");  // indexes must be 0, 1, 2, ...
  EXPECT_EQ(VolumeImageSpec::from_json(gap).err(), EINVAL);
}

}  // namespace
}  // namespace dynamicfs

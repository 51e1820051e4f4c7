// ImageLayout's checks of a torrent's files, made by hand: the refusals a
// fetch relies on to leave the target untouched (names that are not hex
// offsets, overlapping ranges, ranges that do not start on a sector), and
// the mapping of pieces to disk segments.
#include "src/replication/image_layout.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using namespace dynamicfs;

namespace {

lt::file_storage files_of(const std::vector<std::pair<std::string, int64_t>>& specs) {
  lt::file_storage fs;
  for (const auto& [name, size] : specs) fs.add_file("img/" + name, size);
  fs.set_piece_length(0x4000);
  fs.set_num_pieces(static_cast<int>((fs.total_size() + 0x3fff) / 0x4000));
  return fs;
}

}  // namespace

TEST(ImageLayout, AcceptsSectorAlignedRanges) {
  auto fs =
      files_of({{"0000000000000000", 4096}, {"0000000000001000", 1000}, {"0000000000100000", 777}});
  auto layout = ImageLayout::from_files(fs);
  ASSERT_TRUE(layout.is_ok()) << layout.status().to_string();
  EXPECT_EQ(layout->end_offset(), 0x100000u + 777);
}

TEST(ImageLayout, RefusesARangeInsideASector) {
  auto fs = files_of({{"0000000000000000", 4096}, {"0000000000002100", 4096}});
  auto layout = ImageLayout::from_files(fs);
  ASSERT_FALSE(layout.is_ok());
  EXPECT_EQ(layout.status().err(), EINVAL);
  EXPECT_NE(layout.status().message().find("0000000000002100"), std::string::npos)
      << layout.status().message();
  EXPECT_NE(layout.status().message().find("512-byte sector"), std::string::npos);
}

TEST(ImageLayout, RefusesOverlappingRanges) {
  auto fs = files_of({{"0000000000000000", 8192}, {"0000000000001000", 4096}});
  auto layout = ImageLayout::from_files(fs);
  ASSERT_FALSE(layout.is_ok());
  EXPECT_NE(layout.status().message().find("overlap"), std::string::npos)
      << layout.status().message();
}

TEST(ImageLayout, RefusesNamesThatAreNotOffsets) {
  auto fs = files_of({{"hello.txt", 4096}});
  EXPECT_FALSE(ImageLayout::from_files(fs).is_ok());
}

TEST(ImageLayout, MapsAPieceAcrossTwoRanges) {
  // 0x4000-byte pieces; the first range is 0x3000 bytes, so piece 0 ends in
  // the second range.
  auto fs = files_of({{"0000000000010000", 0x3000}, {"0000000000200000", 0x3000}});
  auto layout = ImageLayout::from_files(fs);
  ASSERT_TRUE(layout.is_ok());
  auto segs = layout->map(lt::piece_index_t(0), 0, 0x4000);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].disk_offset, 0x10000u);
  EXPECT_EQ(segs[0].length, 0x3000u);
  EXPECT_EQ(segs[1].disk_offset, 0x200000u);
  EXPECT_EQ(segs[1].length, 0x1000u);
}

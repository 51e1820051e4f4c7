// ExtentRecord: encoding and slicing keep checksums aligned with blocks.
#include "metadata/extent_record.h"

#include <gtest/gtest.h>

using namespace dynamicfs;

TEST(ExtentRecord, RoundTrip) {
  ExtentRecord e{1, 1 << 20, 3 * 4096, 77, {11, 22, 33}};
  auto d = ExtentRecord::decode(e.encode());
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d.value(), e);
}

TEST(ExtentRecord, SliceKeepsMatchingChecksums) {
  ExtentRecord e{0, 8192, 4 * 4096, 5, {1, 2, 3, 4}};
  ExtentRecord s = e.slice(4096, 2 * 4096);
  EXPECT_EQ(s.disk_offset, 8192u + 4096u);
  EXPECT_EQ(s.length, 2u * 4096);
  EXPECT_EQ(s.crcs, (std::vector<uint32_t>{2, 3}));
}

TEST(ExtentRecord, RejectsMalformed) {
  ExtentRecord e{0, 0, 2 * 4096, 1, {1, 2}};
  std::string enc = e.encode();
  EXPECT_FALSE(ExtentRecord::decode(enc.substr(0, enc.size() - 4)).is_ok());  // missing crc
  std::string bad_version = enc;
  bad_version[0] = 9;
  EXPECT_FALSE(ExtentRecord::decode(bad_version).is_ok());
}

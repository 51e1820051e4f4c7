// crc32c must match the standard Castagnoli check value, or checksums
// written by another build could not be verified.
#include "src/common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

using dynamicfs::crc32c;

TEST(Crc32c, StandardCheckValue) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32c, KnownVectors) {
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  std::string ones(32, '\xff');
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, DetectsSingleBitFlip) {
  std::string block(4096, 'a');
  uint32_t good = crc32c(block.data(), block.size());
  block[1234] ^= 0x10;
  EXPECT_NE(good, crc32c(block.data(), block.size()));
}

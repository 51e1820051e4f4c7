// Superblock: round trip, and refusal of damaged or foreign blocks.
#include "src/io/superblock.h"

#include <gtest/gtest.h>

using namespace dynamicfs;

namespace {
Superblock sample() {
  Superblock sb;
  sb.volume_uuid = uuid_generate_random();
  sb.disk_uuid = uuid_generate_random();
  sb.disk_index = 1;
  sb.disk_count = 2;
  sb.disk_size = 1ull << 30;
  return sb;
}
}  // namespace

TEST(Superblock, RoundTrip) {
  Superblock sb = sample();
  std::string enc = sb.encode();
  ASSERT_EQ(enc.size(), Superblock::kSize);
  auto d = Superblock::decode(enc);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->volume_uuid, sb.volume_uuid);
  EXPECT_EQ(d->disk_uuid, sb.disk_uuid);
  EXPECT_EQ(d->disk_index, 1u);
  EXPECT_EQ(d->disk_size, sb.disk_size);
}

TEST(Superblock, DamageIsDetectedAnywhere) {
  std::string enc = sample().encode();
  for (size_t pos : {8ul, 20ul, 60ul, 2000ul, 4095ul}) {
    std::string bad = enc;
    bad[pos] ^= 0x01;
    auto d = Superblock::decode(bad);
    EXPECT_FALSE(d.is_ok()) << "flip at " << pos;
    EXPECT_EQ(d.err(), EUCLEAN) << "flip at " << pos;
  }
}

TEST(Superblock, ForeignBlockHasNoMagic) {
  std::string ext4(Superblock::kSize, '\0');
  EXPECT_FALSE(Superblock::has_magic(ext4));
  auto d = Superblock::decode(ext4);
  EXPECT_FALSE(d.is_ok());
  EXPECT_EQ(d.err(), EINVAL);
}

TEST(Uuid, StringRoundTrip) {
  Uuid u = uuid_generate_random();
  auto back = uuid_from_string(uuid_to_string(u));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back.value(), u);
  EXPECT_FALSE(uuid_from_string("not-a-uuid").is_ok());
}

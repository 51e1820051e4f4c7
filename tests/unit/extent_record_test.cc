// ExtentRecord: encoding and slicing keep checksums aligned with blocks and
// every copy in step.
#include "metadata/extent_record.h"

#include <gtest/gtest.h>

using namespace dynamicfs;

TEST(ExtentRecord, RoundTripOneCopyIsVersion1) {
  ExtentRecord e{{{1, 1 << 20}}, 3 * 4096, 77, {11, 22, 33}};
  std::string enc = e.encode();
  EXPECT_EQ(enc[0], 1);
  EXPECT_EQ(enc.size(), 1u + 4 + 8 + 4 + 8 + 3 * 4);
  auto d = ExtentRecord::decode(enc);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d.value(), e);
}

TEST(ExtentRecord, RoundTripThreeCopies) {
  ExtentRecord e{{{0, 1 << 20}, {2, 5 << 20}, {1, 9 << 20}}, 2 * 4096, 8, {7, 9}};
  std::string enc = e.encode();
  EXPECT_EQ(enc[0], 2);
  auto d = ExtentRecord::decode(enc);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d.value(), e);
  ASSERT_NE(d->copy_on(2), nullptr);
  EXPECT_EQ(d->copy_on(2)->offset, 5u << 20);
  EXPECT_EQ(d->copy_on(3), nullptr);
}

TEST(ExtentRecord, SliceMovesEveryCopy) {
  ExtentRecord e{{{0, 8192}, {1, 65536}}, 4 * 4096, 5, {1, 2, 3, 4}};
  ExtentRecord s = e.slice(4096, 2 * 4096);
  ASSERT_EQ(s.copies.size(), 2u);
  EXPECT_EQ(s.copies[0].offset, 8192u + 4096u);
  EXPECT_EQ(s.copies[1].offset, 65536u + 4096u);
  EXPECT_EQ(s.length, 2u * 4096);
  EXPECT_EQ(s.crcs, (std::vector<uint32_t>{2, 3}));
}

TEST(ExtentRecord, RejectsMalformed) {
  ExtentRecord e{{{0, 0}}, 2 * 4096, 1, {1, 2}};
  std::string enc = e.encode();
  EXPECT_FALSE(ExtentRecord::decode(enc.substr(0, enc.size() - 4)).is_ok());  // missing crc
  std::string bad_version = enc;
  bad_version[0] = 9;
  EXPECT_FALSE(ExtentRecord::decode(bad_version).is_ok());
  EXPECT_FALSE(ExtentRecord::decode("").is_ok());

  ExtentRecord two{{{0, 0}, {0, 4096}}, 4096, 1, {1}};  // both copies on disk 0
  EXPECT_FALSE(ExtentRecord::decode(two.encode()).is_ok());
  ExtentRecord ok2{{{0, 0}, {1, 4096}}, 4096, 1, {1}};
  std::string zero = ok2.encode();
  zero[1] = 0;  // copy count 0
  EXPECT_FALSE(ExtentRecord::decode(zero).is_ok());
  zero[1] = 9;  // more than kMaxCopies
  EXPECT_FALSE(ExtentRecord::decode(zero).is_ok());
}

// An erasure-coded 2+1 stripe of 3-block units holding a 5-block window.
ExtentRecord ec_stripe() {
  ExtentRecord e{{{0, 1 << 20}, {1, 2 << 20}, {2, 3 << 20}}, 5 * 4096, 9, {}};
  e.ec_k = 2;
  e.ec_m = 1;
  e.unit_blocks = 3;
  e.skip = 0;
  for (uint32_t i = 0; i < 9; ++i) e.crcs.push_back(100 + i);
  return e;
}

TEST(ExtentRecord, ErasureCodedRoundTripIsVersion3) {
  ExtentRecord e = ec_stripe();
  std::string enc = e.encode();
  EXPECT_EQ(enc[0], 3);
  auto d = ExtentRecord::decode(enc);
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d.value(), e);
  EXPECT_TRUE(d->is_ec());
}

TEST(ExtentRecord, ErasureCodedSliceMovesTheWindowNotTheStripe) {
  ExtentRecord e = ec_stripe();
  ExtentRecord s = e.slice(2 * 4096, 2 * 4096);  // window blocks 2 and 3
  EXPECT_EQ(s.copies, e.copies);
  EXPECT_EQ(s.crcs, e.crcs);
  EXPECT_EQ(s.skip, 2u);
  EXPECT_EQ(s.length, 2u * 4096);
  EXPECT_EQ(s.data_crc(0), 102u);
  EXPECT_EQ(s.data_crc(1), 103u);
  // Block 1 of the window is stripe data block 3: unit 1, row 0.
  EXPECT_EQ(s.unit_of(1), 1u);
  EXPECT_EQ(s.row_of(1), 0u);
  // Every window references the whole stripe.
  uint64_t total = 0;
  s.for_each_space([&](uint32_t, uint64_t, uint64_t len) { total += len; });
  EXPECT_EQ(total, 3u * 3 * 4096);
  auto d = ExtentRecord::decode(s.encode());
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d.value(), s);
}

TEST(ExtentRecord, ErasureCodedRejectsBadShapes) {
  ExtentRecord e = ec_stripe();
  e.skip = 2;  // 2 + 5 blocks > 2 data units of 3
  EXPECT_FALSE(ExtentRecord::decode(e.encode()).is_ok());
  e = ec_stripe();
  e.crcs.pop_back();
  EXPECT_FALSE(ExtentRecord::decode(e.encode()).is_ok());
  e = ec_stripe();
  e.copies[2].disk = 0;
  EXPECT_FALSE(ExtentRecord::decode(e.encode()).is_ok());
  e = ec_stripe();
  std::string enc = e.encode();
  enc[2] = 0;  // m = 0
  EXPECT_FALSE(ExtentRecord::decode(enc).is_ok());
}

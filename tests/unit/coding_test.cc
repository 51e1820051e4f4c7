// Key encoding: big-endian keys must sort like the numbers they encode, and
// every encoder must round-trip.
#include <gtest/gtest.h>

#include <random>

#include "metadata/inode_record.h"
#include "metadata/key_codec.h"

using namespace dynamicfs;

TEST(KeyCodec, ExtentKeysSortByInodeThenOffset) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 10000; ++i) {
    uint64_t a_ino = rng() % 1000, b_ino = rng() % 1000, a_off = rng(), b_off = rng();
    std::string a = KeyCodec::extent_key(a_ino, a_off), b = KeyCodec::extent_key(b_ino, b_off);
    bool num_less = std::tie(a_ino, a_off) < std::tie(b_ino, b_off);
    EXPECT_EQ(num_less, a < b) << a_ino << "/" << a_off << " vs " << b_ino << "/" << b_off;
    EXPECT_EQ(KeyCodec::extent_key_ino(a), a_ino);
    EXPECT_EQ(KeyCodec::extent_key_offset(a), a_off);
  }
}

TEST(KeyCodec, DentryKeysGroupByParent) {
  std::string k1 = KeyCodec::dentry_key(255, "zzz"), k2 = KeyCodec::dentry_key(256, "aaa");
  EXPECT_LT(k1, k2);
  EXPECT_EQ(KeyCodec::dentry_name(k2), "aaa");
  EXPECT_TRUE(std::string_view(k2).starts_with(KeyCodec::dentry_prefix(256)));
  EXPECT_FALSE(std::string_view(k1).starts_with(KeyCodec::dentry_prefix(256)));
}

TEST(KeyCodec, PrefixEndIsTightUpperBound) {
  std::string p = KeyCodec::inode_key(0x00000000000001ffull);
  std::string end = KeyCodec::prefix_end(p);
  EXPECT_LT(p + std::string(100, '\xff'), end);
  EXPECT_LE(end, KeyCodec::inode_key(0x200));
  EXPECT_GT(end, KeyCodec::inode_key(0x1ff));
}

TEST(KeyCodec, AllocKeysRoundTrip) {
  std::string k = KeyCodec::alloc_key(7, 123456789);
  EXPECT_EQ(KeyCodec::alloc_key_disk(k), 7u);
  EXPECT_EQ(KeyCodec::alloc_key_offset(k), 123456789u);
}

TEST(InodeRecord, RoundTripAndRejectTruncated) {
  InodeRecord r;
  r.ino = 99;
  r.mode = S_IFREG | 0640;
  r.uid = 1000;
  r.gid = 100;
  r.nlink = 3;
  r.size = 1ull << 40;
  r.alloc_bytes = 8192;
  r.generation = 17;
  r.mtime = {1700000000, 123456789};
  std::string enc = r.encode();
  auto d = InodeRecord::decode(99, enc);
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->size, r.size);
  EXPECT_EQ(d->mode, r.mode);
  EXPECT_EQ(d->mtime, r.mtime);
  EXPECT_EQ(d->generation, 17u);
  auto bad = InodeRecord::decode(99, enc.substr(0, enc.size() - 1));
  EXPECT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.err(), EUCLEAN);
}

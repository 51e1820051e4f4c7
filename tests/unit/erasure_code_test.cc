// ErasureCode: every pattern of up to m lost units is rebuilt exactly, more
// than m is refused, and schemes parse strictly.
#include "src/common/erasure_code.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

using namespace dynamicfs;

namespace {

void check_all_erasures(EcScheme s, size_t len, uint64_t seed) {
  auto code = ErasureCode::make(s);
  ASSERT_TRUE(code.is_ok()) << code.status().to_string();
  std::mt19937_64 rng(seed);
  const unsigned n = s.units();
  std::vector<std::vector<uint8_t>> units(n, std::vector<uint8_t>(len));
  for (unsigned i = 0; i < s.k; ++i)
    for (auto& b : units[i]) b = static_cast<uint8_t>(rng());
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (unsigned i = 0; i < s.k; ++i) data.push_back(units[i].data());
  for (unsigned i = s.k; i < n; ++i) parity.push_back(units[i].data());
  code->encode(data, parity, len);
  const auto original = units;
  // Every subset of lost units (as a bit mask).
  unsigned tried = 0;
  for (uint64_t mask = 1; mask < (uint64_t{1} << n); ++mask) {
    const auto lost = static_cast<unsigned>(__builtin_popcountll(mask));
    std::vector<bool> present(n);
    std::vector<uint8_t*> ptrs(n);
    for (unsigned i = 0; i < n; ++i) {
      present[i] = ((mask >> i) & 1) == 0;
      if (!present[i]) std::fill(units[i].begin(), units[i].end(), uint8_t{0xA5});
      ptrs[i] = units[i].data();
    }
    Status st = code->reconstruct(ptrs, present, len);
    if (lost > s.m) {
      EXPECT_EQ(st.err(), EIO) << s.to_string() << " mask " << mask;
    } else {
      ASSERT_TRUE(st.is_ok()) << st.to_string();
      for (unsigned i = 0; i < n; ++i)
        ASSERT_EQ(units[i], original[i]) << s.to_string() << " mask " << mask << " unit " << i;
      ++tried;
    }
    units = original;
  }
  EXPECT_GT(tried, 0u);
}

}  // namespace

TEST(ErasureCode, RebuildsEveryPatternOfUpToMLostUnits) {
  const uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  check_all_erasures({4, 2}, 4096, seed);
  check_all_erasures({2, 1}, 4096 * 3, seed + 1);
  check_all_erasures({6, 3}, 512, seed + 2);
  check_all_erasures({10, 4}, 64, seed + 3);
}

TEST(ErasureCode, SchemesParseStrictly) {
  auto s = EcScheme::parse("4+2");
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s.value(), (EcScheme{4, 2}));
  EXPECT_EQ(s->to_string(), "4+2");
  for (const char* bad : {"", "4", "4+", "+2", "0+2", "4+0", "4+2x", "-1+2", "30+3", "a+b"})
    EXPECT_EQ(EcScheme::parse(bad).err(), EINVAL) << bad;
  EXPECT_TRUE(EcScheme::parse("16+16").is_ok());
  EXPECT_FALSE(ErasureCode::make({0, 1}).is_ok());
}

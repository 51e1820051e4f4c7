// SharedExtents: checked against a per-block reference count model under
// random share/release sequences; count() agrees with the model; the map
// stays empty (and release is a pass-through) when nothing is shared.
#include "src/extent/shared_extents.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <vector>

using namespace dynamicfs;

namespace {

constexpr uint64_t kBlock = 4096;

// Blocks whose reference count (model) is > 1, as sorted ranges.
std::vector<std::pair<DiskRange, uint32_t>> model_entries(
    const std::vector<std::vector<int>>& refs) {
  std::vector<std::pair<DiskRange, uint32_t>> out;
  for (uint32_t d = 0; d < refs.size(); ++d) {
    for (uint64_t b = 0; b < refs[d].size(); ++b) {
      if (refs[d][b] <= 1) continue;
      auto extra = static_cast<uint32_t>(refs[d][b] - 1);
      if (!out.empty() && out.back().first.disk == d &&
          out.back().first.offset + out.back().first.length == b * kBlock &&
          out.back().second == extra) {
        out.back().first.length += kBlock;
      } else {
        out.push_back({DiskRange{d, b * kBlock, kBlock}, extra});
      }
    }
  }
  return out;
}

}  // namespace

TEST(SharedExtents, NothingSharedPassesThrough) {
  SharedExtents s;
  std::vector<DiskRange> out;
  s.release({{0, 0, 8192}, {1, 4096, 4096}}, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (DiskRange{0, 0, 8192}));
  EXPECT_TRUE(s.empty());
}

TEST(SharedExtents, PartialOverlapFreesOnlyUnsharedParts) {
  SharedExtents s;
  s.share({0, 4096, 8192});  // blocks 1-2 now have two owners
  EXPECT_EQ(s.shared_bytes(), 8192u);
  std::vector<DiskRange> out;
  s.release({{0, 0, 16384}}, &out);  // one owner of blocks 0-3 lets go
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (DiskRange{0, 0, 4096}));
  EXPECT_EQ(out[1], (DiskRange{0, 12288, 4096}));
  EXPECT_TRUE(s.empty());
  out.clear();
  s.release({{0, 4096, 8192}}, &out);  // the last owner of blocks 1-2
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (DiskRange{0, 4096, 8192}));
}

TEST(SharedExtents, RandomAgainstModel) {
  unsigned seed = std::random_device{}();
  std::printf("SharedExtents seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr uint32_t kDisks = 2;
  constexpr uint64_t kBlocks = 64;
  std::vector<std::vector<int>> refs(kDisks, std::vector<int>(kBlocks, 1));  // all owned once
  SharedExtents s;
  for (int step = 0; step < 4000; ++step) {
    uint32_t d = static_cast<uint32_t>(rng() % kDisks);
    uint64_t b0 = rng() % kBlocks, n = 1 + rng() % 12;
    if (b0 + n > kBlocks) n = kBlocks - b0;
    DiskRange r{d, b0 * kBlock, n * kBlock};
    bool can_release = true;
    for (uint64_t b = b0; b < b0 + n; ++b) can_release = can_release && refs[d][b] > 0;
    if (rng() % 2 == 0 || !can_release) {
      bool alive = true;  // only space someone owns can be shared
      for (uint64_t b = b0; b < b0 + n; ++b) alive = alive && refs[d][b] > 0;
      if (!alive) continue;
      s.share(r);
      for (uint64_t b = b0; b < b0 + n; ++b) ++refs[d][b];
    } else {
      std::vector<DiskRange> freed;
      s.release({r}, &freed);
      std::vector<bool> got(kBlocks, false);
      for (const auto& f : freed) {
        ASSERT_EQ(f.disk, d);
        for (uint64_t o = f.offset; o < f.offset + f.length; o += kBlock) got[o / kBlock] = true;
      }
      for (uint64_t b = b0; b < b0 + n; ++b) {
        --refs[d][b];
        ASSERT_EQ(got[b], refs[d][b] == 0) << "block " << b << " step " << step;
        if (refs[d][b] == 0) refs[d][b] = 1;  // reallocated to a new owner
      }
    }
    ASSERT_EQ(s.entries(), model_entries(refs)) << "step " << step;
  }
  // A rebuild from the references alone gives the same map.
  std::vector<DiskRange> all;
  for (uint32_t d = 0; d < kDisks; ++d)
    for (uint64_t b = 0; b < kBlocks; ++b)
      for (int i = 0; i < refs[d][b]; ++i) all.push_back(DiskRange{d, b * kBlock, kBlock});
  SharedExtents rebuilt;
  auto used = SharedExtents::count(all, &rebuilt);
  EXPECT_EQ(rebuilt.entries(), s.entries());
  EXPECT_EQ(rebuilt.shared_bytes(), s.shared_bytes());
  ASSERT_EQ(used.size(), kDisks);
  EXPECT_EQ(used[0], (DiskRange{0, 0, kBlocks * kBlock}));
}

TEST(SharedExtents, CountFindsOverlapsAndUnion) {
  SharedExtents s;
  auto used =
      SharedExtents::count({{0, 0, 8192}, {0, 4096, 8192}, {0, 20480, 4096}, {1, 0, 4096}}, &s);
  ASSERT_EQ(used.size(), 3u);
  EXPECT_EQ(used[0], (DiskRange{0, 0, 12288}));
  EXPECT_EQ(used[1], (DiskRange{0, 20480, 4096}));
  EXPECT_EQ(used[2], (DiskRange{1, 0, 4096}));
  auto e = s.entries();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].first, (DiskRange{0, 4096, 4096}));
  EXPECT_EQ(e[0].second, 1u);
}

TEST(SharedExtents, HeldOnlyByAgainstModel) {
  // A random set of "snapshot" references over a volume's own references:
  // held_only_by counts exactly the blocks whose every reference is the
  // snapshot's (including blocks the snapshot itself references twice).
  unsigned seed = std::random_device{}();
  std::printf("HeldOnlyBy seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr uint64_t kBlocks = 96;
  for (int round = 0; round < 50; ++round) {
    std::vector<int> live(kBlocks, 0), snap(kBlocks, 0);
    std::vector<DiskRange> all, mine;
    auto add = [&](std::vector<int>* counts, std::vector<DiskRange>* list) {
      uint64_t b0 = rng() % kBlocks, n = 1 + rng() % 10;
      if (b0 + n > kBlocks) n = kBlocks - b0;
      for (uint64_t b = b0; b < b0 + n; ++b) ++(*counts)[b];
      list->push_back(DiskRange{0, b0 * kBlock, n * kBlock});
    };
    for (int i = 0; i < 12; ++i) add(&live, &all);
    for (int i = 0; i < 8; ++i) add(&snap, &mine);
    all.insert(all.end(), mine.begin(), mine.end());
    SharedExtents s;
    SharedExtents::count(all, &s);
    uint64_t want = 0;
    for (uint64_t b = 0; b < kBlocks; ++b)
      if (snap[b] > 0 && live[b] == 0) want += kBlock;
    ASSERT_EQ(s.held_only_by(mine), want) << "round " << round;
  }
}

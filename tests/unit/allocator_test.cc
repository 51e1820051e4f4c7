// Allocator: placement, coalescing, deferred frees and mount-time rebuild.
#include "src/extent/allocator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

using namespace dynamicfs;

namespace {
constexpr uint64_t kMiB = 1 << 20;
uint64_t total(const std::vector<DiskRange>& v) {
  uint64_t t = 0;
  for (auto& r : v) t += r.length;
  return t;
}
}  // namespace

TEST(Allocator, PrefersDiskWithMostFreeSpace) {
  Allocator a({{kMiB, 65 * kMiB}, {kMiB, 129 * kMiB}});
  auto r = a.allocate(4096);
  ASSERT_TRUE(r.is_ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().disk, 1u);
}

TEST(Allocator, SequentialAllocationsAreContiguous) {
  Allocator a({{kMiB, 65 * kMiB}});
  auto r1 = a.allocate(kMiB), r2 = a.allocate(kMiB);
  ASSERT_TRUE(r1.is_ok() && r2.is_ok());
  EXPECT_EQ(r1->front().offset + kMiB, r2->front().offset);
}

TEST(Allocator, EnospcTakesNothing) {
  Allocator a({{kMiB, 2 * kMiB}});
  auto r = a.allocate(2 * kMiB);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), ENOSPC);
  EXPECT_EQ(a.space(0).free, kMiB);
}

TEST(Allocator, DeferredFreesWaitForDurabilityAndOldReaders) {
  Allocator a({{kMiB, 2 * kMiB}});
  auto r = a.allocate(kMiB);
  ASSERT_TRUE(r.is_ok());
  a.defer_free(r.value(), /*tag=*/10);
  EXPECT_EQ(a.space(0).free, 0u);
  EXPECT_EQ(a.space(0).deferred, kMiB);
  EXPECT_EQ(a.reclaim(UINT64_MAX), 0u) << "reclaimed before the freeing commit was durable";
  auto pending = a.take_pending();
  ASSERT_EQ(pending.size(), 1u);
  a.mark_durable(std::move(pending));
  EXPECT_EQ(a.reclaim(/*oldest reader=*/7), 0u) << "a reader older than the free may still read it";
  EXPECT_FALSE(a.allocate(4096).is_ok());
  EXPECT_EQ(a.reclaim(/*oldest reader=*/11), kMiB);
  EXPECT_EQ(a.space(0).free, kMiB);
  EXPECT_EQ(a.space(0).deferred, 0u);
  EXPECT_TRUE(a.allocate(kMiB).is_ok());
}

TEST(Allocator, FailedDurableCommitKeepsFreesPending) {
  Allocator a({{0, 16 * 4096}});
  auto r = a.allocate(4096);
  a.defer_free(r.value(), 1);
  a.return_pending(a.take_pending());
  EXPECT_EQ(a.reclaim(UINT64_MAX), 0u);
  a.mark_durable(a.take_pending());
  EXPECT_EQ(a.reclaim(UINT64_MAX), 4096u);
}

TEST(Allocator, FragmentedSpaceIsAllocatedInPiecesAndCoalescesBack) {
  Allocator a({{0, 64 * 4096}});
  std::vector<std::vector<DiskRange>> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(a.allocate(4096).value());
  for (int i = 0; i < 64; i += 2) a.free_now(blocks[i]);  // every other block
  auto r = a.allocate(8 * 4096);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(total(r.value()), 8u * 4096);
  EXPECT_EQ(r->size(), 8u);
  a.free_now(r.value());
  for (int i = 1; i < 64; i += 2) a.free_now(blocks[i]);
  auto ranges = a.free_ranges(0);
  ASSERT_EQ(ranges.size(), 1u);  // fully coalesced
  EXPECT_EQ(ranges[0].second, 64u * 4096);
}

TEST(Allocator, MarkUsedDetectsDoubleOwnership) {
  Allocator a({{0, 16 * 4096}});
  EXPECT_TRUE(a.mark_used({0, 4096, 8192}).is_ok());
  EXPECT_EQ(a.space(0).free, 14u * 4096);
  Status st = a.mark_used({0, 8192, 4096});
  EXPECT_FALSE(st.is_ok());
  EXPECT_EQ(st.err(), EUCLEAN);
  EXPECT_FALSE(a.mark_used({0, 15 * 4096, 2 * 4096}).is_ok());  // past the end
}

TEST(Allocator, RandomizedNeverHandsOutOverlappingSpace) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("allocator seed %u\n", seed);
  std::mt19937 rng(seed);
  Allocator a({{0, 256 * 4096}, {0, 128 * 4096}});
  std::vector<std::vector<DiskRange>> live;
  std::vector<std::vector<bool>> used{std::vector<bool>(256), std::vector<bool>(128)};
  for (int step = 0; step < 5000; ++step) {
    if (live.empty() || rng() % 2) {
      auto r = a.allocate((1 + rng() % 8) * 4096);
      if (!r.is_ok()) continue;
      for (auto& p : r.value())
        for (uint64_t b = p.offset / 4096; b < (p.offset + p.length) / 4096; ++b) {
          ASSERT_FALSE(used[p.disk][b]) << "block handed out twice";
          used[p.disk][b] = true;
        }
      live.push_back(r.value());
    } else {
      size_t i = rng() % live.size();
      for (auto& p : live[i])
        for (uint64_t b = p.offset / 4096; b < (p.offset + p.length) / 4096; ++b)
          used[p.disk][b] = false;
      a.free_now(live[i]);
      live.erase(live.begin() + static_cast<long>(i));
    }
  }
}

TEST(Allocator, DiscardClaimsOnlyFreeUntrimmedSpaceAndHidesItFromAllocation) {
  Allocator a({{kMiB, 65 * kMiB}});
  auto r = a.allocate(8 * kMiB);
  auto rest = a.allocate(56 * kMiB);
  ASSERT_TRUE(r.is_ok() && rest.is_ok());
  EXPECT_EQ(a.untrimmed_bytes(0), 0u);  // never-freed space is not untrimmed
  a.free_now(*r);
  EXPECT_EQ(a.untrimmed_bytes(0), 8 * kMiB);
  // Half of it is reused before the discard runs: only the rest is claimed,
  // and at most half of what is free, so allocations keep room.
  auto reused = a.allocate(4 * kMiB);
  ASSERT_TRUE(reused.is_ok());
  ASSERT_EQ(reused->front().offset, kMiB);
  auto claimed = a.claim_untrimmed(0, 64 * kMiB, 4096);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0], (DiskRange{0, 5 * kMiB, 2 * kMiB}));
  EXPECT_EQ(a.untrimmed_bytes(0), 2 * kMiB);
  EXPECT_EQ(a.space(0).free, 4 * kMiB) << "space being discarded counts as free";
  // While claimed, nothing can allocate it.
  auto other = a.allocate(2 * kMiB);
  ASSERT_TRUE(other.is_ok());
  EXPECT_EQ(other->front(), (DiskRange{0, 7 * kMiB, 2 * kMiB}));
  EXPECT_FALSE(a.allocate(4096).is_ok());
  EXPECT_FALSE(a.wait_for_claims(std::chrono::milliseconds(1)));
  a.end_discard(claimed);
  EXPECT_TRUE(a.wait_for_claims(std::chrono::milliseconds(1)));
  EXPECT_EQ(a.space(0).free, 2 * kMiB);
  auto again = a.allocate(2 * kMiB);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->front(), (DiskRange{0, 5 * kMiB, 2 * kMiB}));
}

TEST(Allocator, FailedDiscardStaysUntrimmed) {
  Allocator a({{kMiB, 65 * kMiB}});
  auto r = a.allocate(8 * kMiB);
  ASSERT_TRUE(r.is_ok());
  a.free_now(*r);
  auto claimed = a.claim_untrimmed(0, 64 * kMiB, 4096);
  ASSERT_FALSE(claimed.empty());
  const uint64_t left = a.untrimmed_bytes(0);
  a.end_discard(claimed, /*trimmed=*/false);
  EXPECT_EQ(a.untrimmed_bytes(0), left + total(claimed));
  EXPECT_EQ(a.space(0).free, 64 * kMiB);
}

TEST(Allocator, FullTrimWalksAllFreeSpaceInBatches) {
  Allocator a({{kMiB, 65 * kMiB}, {kMiB, 9 * kMiB}});
  auto used = a.allocate(kMiB, DiskMask{2});
  ASSERT_TRUE(used.is_ok());
  a.free_now(*used);
  auto trim_all = [&](uint32_t disk, uint64_t batch, uint64_t min_len, size_t* batches) {
    uint64_t from = 0, got = 0;
    while (true) {
      auto c = a.claim_free(disk, &from, batch, min_len);
      if (c.empty()) break;
      got += total(c);
      ++*batches;
      EXPECT_LE(total(c), batch);
      for (const auto& p : c) EXPECT_GE(p.length, min_len);
      a.end_discard(c);
    }
    return got;
  };
  size_t batches = 0;
  EXPECT_EQ(trim_all(0, 16 * kMiB, 4096, &batches), 64 * kMiB);
  EXPECT_EQ(batches, 4u);
  EXPECT_EQ(a.space(0).free, 64 * kMiB);
  // A full trim of disk 1 clears what was untrimmed there.
  EXPECT_EQ(a.untrimmed_bytes(1), kMiB);
  EXPECT_EQ(trim_all(1, 64 * kMiB, 4096, &batches), 8 * kMiB);
  EXPECT_EQ(a.untrimmed_bytes(1), 0u);
  EXPECT_EQ(a.space(1).free, 8 * kMiB);
}

TEST(Allocator, FullTrimWithALargeMinimumSkipsOnlyShortRanges) {
  Allocator a({{kMiB, 65 * kMiB}});
  // Free ranges alternate: 1 MiB free, 1 MiB used, then a 4 KiB sliver.
  std::vector<std::vector<DiskRange>> pieces;
  for (int i = 0; i < 64; ++i) pieces.push_back(a.allocate(kMiB).value());
  for (int i = 0; i < 64; i += 2) a.free_now(pieces[i]);
  auto sliver = a.allocate(4096);  // takes the start of the first free range
  ASSERT_TRUE(sliver.is_ok());
  uint64_t from = 0, got = 0;
  while (true) {
    auto c = a.claim_free(0, &from, 5 * kMiB + 4096, kMiB);
    if (c.empty()) break;
    for (const auto& p : c) EXPECT_GE(p.length, kMiB);
    got += total(c);
    a.end_discard(c);
  }
  EXPECT_EQ(got, 31 * kMiB) << "every free range of at least 1 MiB is trimmed";
}

TEST(Allocator, ReservationsAreKeptFreeForTheirOwner) {
  Allocator a({{kMiB, 9 * kMiB}});  // 8 MiB
  ASSERT_TRUE(a.reserve(6 * kMiB).is_ok());
  EXPECT_EQ(a.reserve(3 * kMiB).err(), ENOSPC);  // 6 + 3 > 8
  EXPECT_EQ(a.reserved(), 6 * kMiB);
  // Others get only what is not reserved...
  auto other = a.allocate(2 * kMiB);
  ASSERT_TRUE(other.is_ok());
  EXPECT_EQ(a.allocate(4096).err(), ENOSPC);
  EXPECT_EQ(a.allocate_copies(4096, 1, kAllDisks).err(), ENOSPC);
  // ...while the owner may take its reservation, not more.
  auto own = a.allocate(6 * kMiB, kAllDisks, 6 * kMiB);
  ASSERT_TRUE(own.is_ok());
  EXPECT_EQ(total(own.value()), 6 * kMiB);
  a.unreserve(6 * kMiB);  // the owner's commit turned it into data
  EXPECT_EQ(a.reserved(), 0u);
  a.free_now(other.value());
  EXPECT_TRUE(a.allocate(2 * kMiB).is_ok());
}

TEST(Allocator, ConcurrentAllocationsNeverEatAReservation) {
  // Allocators race with a reservation being taken: afterwards the free
  // space always covers what was reserved.
  for (int round = 0; round < 20; ++round) {
    Allocator a({{kMiB, 33 * kMiB}});
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < 64; ++i) (void)a.allocate(64 * 1024);
      });
    }
    go = true;
    Status st = a.reserve(12 * kMiB);
    for (auto& t : threads) t.join();
    if (st.is_ok()) {
      EXPECT_GE(a.space(0).free, a.reserved()) << "round " << round;
    }
  }
}

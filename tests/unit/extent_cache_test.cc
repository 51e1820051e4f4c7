// ExtentCache alone (hits, generations, invalidation, eviction, threads) and
// through a FileSystem (repeated reads skip the disks; rewritten space never
// serves old bytes).
#include "src/extent/extent_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "tests/unit/test_volume.h"

using namespace dynamicfs;

namespace {
constexpr uint64_t kB = ExtentCache::kBlock;
constexpr uint64_t kChunk = ExtentCache::kChunk;

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 + i / kB);
  return s;
}
}  // namespace

TEST(ExtentCache, ServesOnlyWholeRangesOfTheSameGeneration) {
  ExtentCache c(16 * kChunk * ExtentCache::kShards);
  std::string data = pattern(3 * kChunk, 'a');
  std::string out(data.size(), '\0');
  EXPECT_FALSE(c.get(1, kChunk / 2, data.size(), 7, out.data()));
  // Spans four chunks, starting half way into one.
  c.put(1, kChunk / 2, data.size(), 7, data.data());
  ASSERT_TRUE(c.get(1, kChunk / 2, data.size(), 7, out.data()));
  EXPECT_EQ(out, data);
  std::string part(2 * kB, '\0');
  ASSERT_TRUE(c.get(1, kChunk / 2 + 5 * kB, 2 * kB, 7, part.data()));
  EXPECT_EQ(part, data.substr(5 * kB, 2 * kB));
  EXPECT_FALSE(c.get(1, kChunk / 2, data.size(), 8, out.data())) << "another generation";
  EXPECT_FALSE(c.get(2, kChunk / 2, data.size(), 7, out.data())) << "another disk";
  EXPECT_FALSE(c.get(1, kChunk / 2 - kB, 2 * kB, 7, part.data())) << "one block not cached";
  auto st = c.stats();
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 4u);
  EXPECT_EQ(st.used_bytes, 4 * kChunk);
}

TEST(ExtentCache, InvalidatedSpaceIsForgotten) {
  ExtentCache c(16 * kChunk * ExtentCache::kShards);
  std::string data = pattern(kChunk, 'x');
  std::string out(kChunk, '\0');
  c.put(0, 0, kChunk, 1, data.data());
  c.invalidate({DiskRange{0, 8 * kB, kB}});
  EXPECT_FALSE(c.get(0, 0, kChunk, 1, out.data()));
  EXPECT_TRUE(c.get(0, 0, 8 * kB, 1, out.data()));
  EXPECT_TRUE(c.get(0, 9 * kB, 7 * kB, 1, out.data()));
  c.invalidate({DiskRange{0, 0, kChunk}});
  EXPECT_EQ(c.stats().used_bytes, 0u);
}

TEST(ExtentCache, StaysUnderItsCapacityAndKeepsTheRecentlyUsed) {
  const uint64_t cap = 4 * kChunk * ExtentCache::kShards;
  ExtentCache c(cap);
  std::string data = pattern(kChunk, 'q');
  std::string out(kChunk, '\0');
  c.put(0, 0, kChunk, 1, data.data());  // touched all along: stays
  for (uint64_t i = 1; i < 1000; ++i) {
    c.put(0, i * kChunk, kChunk, 1, data.data());
    ASSERT_TRUE(c.get(0, 0, kChunk, 1, out.data())) << i;
    ASSERT_LE(c.stats().used_bytes, cap);
  }
  EXPECT_GT(c.stats().evictions, 0u);
  c.set_capacity(0);
  EXPECT_EQ(c.stats().used_bytes, 0u);
  EXPECT_FALSE(c.get(0, 0, kChunk, 1, out.data()));
  c.put(0, 0, kChunk, 1, data.data());
  EXPECT_EQ(c.stats().used_bytes, 0u) << "a cache of size 0 keeps nothing";
}

TEST(ExtentCache, ConcurrentReadersWritersAndInvalidationsNeverMixBytes) {
  ExtentCache c(8 * kChunk * ExtentCache::kShards);
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  // Block b of disk 0 always holds bytes derived from (b, generation).
  auto block_of = [](uint64_t b, uint64_t gen) {
    return std::string(kB, static_cast<char>(b * 31 + gen));
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      std::string out(kB, '\0');
      for (int i = 0; i < 20000; ++i) {
        uint64_t b = rng() % 256, gen = rng() % 3;
        switch (rng() % 3) {
          case 0:
            c.put(0, b * kB, kB, gen, block_of(b, gen).data());
            break;
          case 1:
            if (c.get(0, b * kB, kB, gen, out.data())) {
              ASSERT_EQ(out, block_of(b, gen));
            }
            break;
          default:
            c.invalidate({DiskRange{0, b * kB, kB}});
        }
      }
    });
  }
  for (auto& th : threads) th.join();
}

TEST(ExtentCache, RepeatedFileReadsSkipTheDisksAndRewritesAreSeen) {
  std::string dir = test_volume::make("cache", 64 << 20);
  auto vol = Volume::open(dir + "/vol");
  ASSERT_TRUE(vol.is_ok());
  auto fsr = FileSystem::open(std::move(vol).value());
  ASSERT_TRUE(fsr.is_ok());
  FileSystem& fs = *fsr.value();
  std::string data = pattern(1 << 20, 'd');
  uint64_t ino = test_volume::file_with(fs, "hot", data);
  ASSERT_TRUE(fs.fsync(ino, false).is_ok());
  auto first = test_volume::read_all(fs, ino);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first.value(), data);
  const uint64_t disk_reads = fs.stats().bytes_read;
  const uint64_t hits = fs.extent_cache_stats().hits;
  for (int i = 0; i < 10; ++i) {
    auto again = test_volume::read_all(fs, ino);
    ASSERT_TRUE(again.is_ok());
    ASSERT_EQ(again.value(), data);
  }
  EXPECT_EQ(fs.stats().bytes_read, disk_reads) << "hot reads went to the disks";
  EXPECT_GT(fs.extent_cache_stats().hits, hits);
  // An overwrite lands elsewhere (copy on write) and reads back at once; the
  // old space, once reused by another file, never serves the old bytes.
  std::string fresh = pattern(1 << 20, 'z');
  ASSERT_TRUE(fs.write(ino, 0, fresh.data(), fresh.size()).is_ok());
  EXPECT_EQ(test_volume::read_all(fs, ino).value(), fresh);
  ASSERT_TRUE(fs.sync_all().is_ok());  // the old space is reusable now
  for (int f = 0; f < 40; ++f) {
    std::string other = pattern(1 << 20, static_cast<char>('A' + f));
    uint64_t o = test_volume::file_with(fs, "o" + std::to_string(f), other);
    ASSERT_EQ(test_volume::read_all(fs, o).value(), other) << f;
    ASSERT_TRUE(fs.unlink(FileSystem::kRootIno, "o" + std::to_string(f)).is_ok());
    ASSERT_TRUE(fs.sync_all().is_ok());
  }
  EXPECT_EQ(test_volume::read_all(fs, ino).value(), fresh);
  // Space made reusable leaves the cache at once (before any allocation
  // can hand it out), even though its generation would never match again.
  fs.set_extent_cache_bytes(64 << 20);
  ASSERT_EQ(test_volume::read_all(fs, ino).value(), fresh);
  ASSERT_GT(fs.extent_cache_stats().used_bytes, 0u);
  ASSERT_TRUE(fs.unlink(FileSystem::kRootIno, "hot").is_ok());
  ASSERT_TRUE(fs.sync_all().is_ok());
  EXPECT_EQ(fs.extent_cache_stats().used_bytes, 0u) << "freed space is still cached";
  ino = test_volume::file_with(fs, "hot", fresh);
  fs.set_extent_cache_bytes(0);
  EXPECT_EQ(fs.extent_cache_stats().used_bytes, 0u);
  EXPECT_EQ(test_volume::read_all(fs, ino).value(), fresh);
  EXPECT_GT(fs.stats().bytes_read, disk_reads) << "with the cache off reads go to the disks";
  ASSERT_TRUE(fs.shutdown().is_ok());
  std::filesystem::remove_all(dir);
}

// ExtentMapCache: lookups against a model store under random commits and
// evictions, and (through a FileSystem) that reading a file whose history
// left many deleted extent keys does not walk them in RocksDB.
#include "src/extent/extent_map_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/comparator.h>
#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "metadata/key_codec.h"
#include "test_volume.h"

using namespace dynamicfs;

namespace {

// A column family handle that only carries an id, for building batches.
class FakeFamily : public rocksdb::ColumnFamilyHandle {
 public:
  explicit FakeFamily(uint32_t id) : m_id(id) {}
  const std::string& GetName() const override { return m_name; }
  uint32_t GetID() const override { return m_id; }
  rocksdb::Status GetDescriptor(rocksdb::ColumnFamilyDescriptor*) override {
    return rocksdb::Status::NotSupported();
  }
  const rocksdb::Comparator* GetComparator() const override {
    return rocksdb::BytewiseComparator();
  }

 private:
  uint32_t m_id;
  std::string m_name = "fake";
};

std::string record(uint64_t tag) {
  ExtentRecord e;
  e.length = 4096;
  e.generation = tag;
  e.copies.push_back({0, tag * 4096});
  e.crcs.assign(1, static_cast<uint32_t>(tag));
  return e.encode();
}

}  // namespace

TEST(ExtentMapCache, MatchesTheStoreUnderRandomCommitsAndEvictions) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937_64 rng(seed);
  FakeFamily extents(3), other(4);
  std::map<uint64_t, ExtentMapCache::Map> store;     // what RocksDB would hold
  ExtentMapCache cache(extents.GetID(), 64 * 1500);  // small: evictions happen
  // A shard's share of the budget is 1,500 bytes: files with more than a
  // few extents are too large to keep, and their lookups go to the store.
  auto load = [&](uint64_t ino, uint64_t max_bytes, ExtentMapCache::Map* out) {
    uint64_t bytes = 0;
    for (const auto& [off, v] : store[ino]) bytes += v.size();
    if (bytes > max_bytes) return Status::error(EFBIG);
    *out = store[ino];
    return Status::ok();
  };
  uint64_t range_loads = 0;
  auto load_range = [&](uint64_t ino, uint64_t start, uint64_t end, ExtentMapCache::Map* out) {
    ++range_loads;
    const auto& m = store[ino];
    auto it = m.upper_bound(start);
    if (it != m.begin()) --it;
    for (; it != m.end() && it->first < end; ++it) out->insert(*it);
    return Status::ok();
  };
  // Twelve files, all in one shard, so that they compete for its budget.
  auto file = [](std::mt19937_64& r) { return 1 + 64 * (r() % 12); };
  for (int round = 0; round < 3000; ++round) {
    rocksdb::WriteBatch b;
    for (int op = 0; op < 3; ++op) {
      const uint64_t ino = file(rng), off = (rng() % 64) * 4096;
      const std::string key = KeyCodec::extent_key(ino, off);
      if (rng() % 3 == 0) {
        ASSERT_TRUE(b.Delete(&extents, key).ok());
        store[ino].erase(off);
      } else {
        std::string v = record(static_cast<uint64_t>(round));
        ASSERT_TRUE(b.Put(&extents, key, v).ok());
        store[ino][off] = v;
      }
      // Other families never reach the maps.
      ASSERT_TRUE(b.Put(&other, key, "not an extent").ok());
    }
    cache.apply(b);  // after the store has it, as the committer does
    if (rng() % 50 == 0) cache.forget(file(rng));
    const uint64_t ino = file(rng);
    const uint64_t start = (rng() % 70) * 4096 + rng() % 4096;
    const uint64_t end = start + 1 + rng() % (16 * 4096);
    auto got = cache.lookup(ino, start, end, load, load_range);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    std::vector<uint64_t> want, have;
    for (const auto& [off, v] : store[ino])
      if (off < end && off + 4096 > start) want.push_back(off);
    for (const auto& [off, e] : got.value()) {
      have.push_back(off);
      EXPECT_EQ(e.encode(), store[ino][off]) << "round " << round;
    }
    ASSERT_EQ(have, want) << "round " << round << " ino " << ino;
  }
  auto st = cache.stats();
  EXPECT_GT(st.hits, 0u);
  EXPECT_GT(st.evictions, 0u);
  EXPECT_GT(range_loads, 0u);  // some files grew too large to keep
  // The shard's budget, give or take its most recent file (itself within
  // the budget).
  EXPECT_LE(st.bytes, 2 * 1500u);
}

TEST(ExtentMapCache, LookupsDoNotWalkAFilesDeletedHistory) {
  // Random 4 KiB overwrites and truncates leave thousands of deleted extent
  // keys in RocksDB's memtable; reading the file afterwards must not step
  // over them (RocksDB counts the deleted keys an iterator skips).
  const std::string dir = test_volume::make("mapcache", 256ull << 20);
  {
    auto vol = Volume::open(dir + "/vol");
    ASSERT_TRUE(vol.is_ok());
    auto fs_r = FileSystem::open(std::move(vol).value());
    ASSERT_TRUE(fs_r.is_ok());
    auto& fs = *fs_r.value();
    const uint64_t f = test_volume::file_with(fs, "churn", std::string(1 << 20, 'x'));
    std::mt19937_64 rng(42);
    const std::string block(4096, 'y');
    for (int round = 0; round < 3000; ++round) {
      ASSERT_TRUE(fs.write(f, (rng() % 256) * 4096, block.data(), block.size()).is_ok());
      if (round % 3 == 0) {
        SetAttr sa;
        sa.valid = SetAttr::kSize;
        sa.size = (rng() % 256) * 4096;
        ASSERT_TRUE(fs.setattr(f, sa, Caller{}).is_ok());
      }
    }
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    rocksdb::get_perf_context()->Reset();
    std::string buf(1 << 20, '\0');
    for (int i = 0; i < 100; ++i) {
      auto r = fs.read(f, (rng() % 256) * 4096, 4096, buf.data());
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    }
    const uint64_t skipped = rocksdb::get_perf_context()->internal_delete_skipped_count;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    // Without the maps in memory every read's extent seek stepped over
    // thousands of deleted keys; now none are walked.
    EXPECT_LT(skipped, 100u) << "deleted keys stepped over by 100 reads";
    ASSERT_TRUE(fs.shutdown().is_ok());
  }
  std::filesystem::remove_all(dir);
}

// RecordCache: hits after a load or a write, writes replayed in order, a
// load racing a write never leaves the older value behind, the budget holds;
// and through a real MetaStore, every write is visible to the next read and
// repeated reads do not touch RocksDB.
#include "metadata/record_cache.h"

#include <gtest/gtest.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "metadata/meta_store.h"

using namespace dynamicfs;

namespace {

class RecordCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-recordcache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    auto store = MetaStore::open(m_dir + "/meta", /*create=*/true);
    ASSERT_TRUE(store.is_ok()) << store.status().to_string();
    m_store = std::move(store).value();
  }
  void TearDown() override {
    m_store.reset();
    std::filesystem::remove_all(m_dir);
  }
  // A cache of the inodes family alone (family index 0).
  std::unique_ptr<RecordCache> inode_cache(uint64_t budget) {
    return std::make_unique<RecordCache>(
        std::vector<int64_t>{static_cast<int64_t>(m_store->handle(Cf::kInodes)->GetID())}, budget);
  }
  rocksdb::WriteBatch put(const std::string& k, const std::string& v) {
    rocksdb::WriteBatch b;
    b.Put(m_store->handle(Cf::kInodes), k, v);
    return b;
  }
  rocksdb::WriteBatch del(const std::string& k) {
    rocksdb::WriteBatch b;
    b.Delete(m_store->handle(Cf::kInodes), k);
    return b;
  }

  std::string m_dir;
  std::unique_ptr<MetaStore> m_store;
};

RecordCache::Loader constant(std::optional<std::string> v, int* calls) {
  return [v, calls]() -> Result<RecordCache::Value> {
    ++*calls;
    return v;
  };
}

}  // namespace

TEST_F(RecordCacheTest, LoadsOnceThenFollowsWrites) {
  auto cache = inode_cache(1 << 20);
  int calls = 0;
  auto a = cache->get(0, "k", constant(std::string("v1"), &calls));
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a.value(), std::optional<std::string>("v1"));
  a = cache->get(0, "k", constant(std::string("other"), &calls));
  EXPECT_EQ(a.value(), std::optional<std::string>("v1"));
  EXPECT_EQ(calls, 1);

  cache->apply(put("k", "v2"));
  EXPECT_EQ(cache->get(0, "k", constant(std::nullopt, &calls)).value(),
            std::optional<std::string>("v2"));
  cache->apply(del("k"));
  EXPECT_EQ(cache->get(0, "k", constant(std::string("stale"), &calls)).value(), std::nullopt);
  // Absent keys are kept too.
  EXPECT_EQ(cache->get(0, "none", constant(std::nullopt, &calls)).value(), std::nullopt);
  EXPECT_EQ(cache->get(0, "none", constant(std::string("x"), &calls)).value(), std::nullopt);
  EXPECT_EQ(calls, 2);
  // Families not cached are left alone by writes.
  rocksdb::WriteBatch other;
  other.Put(m_store->handle(Cf::kExtents), "k", "extent");
  cache->apply(other);
  EXPECT_EQ(cache->get(0, "k", constant(std::string("stale"), &calls)).value(), std::nullopt);
}

TEST_F(RecordCacheTest, LoadRacingAWriteNeverKeepsTheOlderValue) {
  auto cache = inode_cache(1 << 20);
  int calls = 0;
  // The write commits while the load is reading: the load saw the old
  // value and returns it, but must not leave it in the cache.
  auto racing = [&]() -> Result<RecordCache::Value> {
    ++calls;
    cache->apply(put("k", "new"));
    return RecordCache::Value("old");
  };
  EXPECT_EQ(cache->get(0, "k", racing).value(), std::optional<std::string>("old"));
  EXPECT_EQ(cache->get(0, "k", constant(std::string("never"), &calls)).value(),
            std::optional<std::string>("new"));
  EXPECT_EQ(calls, 1);
}

TEST_F(RecordCacheTest, StaysWithinItsBudget) {
  const uint64_t budget = 64 * 1024;
  auto cache = inode_cache(budget);
  for (int i = 0; i < 20000; ++i)
    cache->apply(put("key" + std::to_string(i), std::string(40, 'v')));
  auto st = cache->stats();
  EXPECT_LE(st.bytes, budget);
  EXPECT_GT(st.evictions, 0u);
  EXPECT_GT(st.records, 0u);
  // An evicted record is loaded again, from the store's answer.
  int calls = 0;
  EXPECT_EQ(cache->get(0, "key0", constant(std::string("reloaded"), &calls)).value(),
            std::optional<std::string>("reloaded"));
  EXPECT_EQ(calls, 1);
}

// Random puts and deletes through a real MetaStore, each read checked
// against a model; reads repeated without writes in between are hits.
TEST_F(RecordCacheTest, MetaStoreReadsMatchAModel) {
  const unsigned seed = std::random_device{}();
  std::printf("record cache model seed=%u\n", seed);
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937 rng(seed);
  std::map<std::string, std::string> model;
  for (int step = 0; step < 5000; ++step) {
    const std::string key = "ino" + std::to_string(rng() % 200);
    const unsigned what = rng() % 3;
    if (what == 0) {
      rocksdb::WriteBatch b = put(key, "v" + std::to_string(step));
      ASSERT_TRUE(m_store->write(&b, false).is_ok());
      model[key] = "v" + std::to_string(step);
    } else if (what == 1) {
      rocksdb::WriteBatch b = del(key);
      ASSERT_TRUE(m_store->write(&b, false).is_ok());
      model.erase(key);
    } else {
      auto got = m_store->get(Cf::kInodes, key);
      ASSERT_TRUE(got.is_ok());
      auto it = model.find(key);
      ASSERT_EQ(got.value(), it == model.end() ? std::nullopt : std::optional(it->second))
          << "step " << step << " key " << key;
    }
  }
  const uint64_t hits_before = m_store->record_cache_stats().hits;
  const uint64_t misses_before = m_store->record_cache_stats().misses;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(m_store->get(Cf::kInodes, "ino1").is_ok());
  EXPECT_GE(m_store->record_cache_stats().hits, hits_before + 99);
  EXPECT_LE(m_store->record_cache_stats().misses, misses_before + 1);
}

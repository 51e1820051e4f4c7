// RecordCache: sharded LRU of point records, kept current by replaying
// written batches.
#include "metadata/record_cache.h"

#include <utility>

namespace dynamicfs {

// Turns a written batch into puts and deletes of cached records.
class RecordCache::Replay : public rocksdb::WriteBatch::Handler {
 public:
  explicit Replay(RecordCache* cache) : m_cache(cache) {}
  rocksdb::Status PutCF(uint32_t id, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    set(id, key, Value(std::string(value.data(), value.size())));
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t id, const rocksdb::Slice& key) override {
    set(id, key, Value());
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(uint32_t id, const rocksdb::Slice& key) override {
    set(id, key, Value());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteRangeCF(uint32_t id, const rocksdb::Slice&,
                                const rocksdb::Slice&) override {
    if (m_cache->family_of(id) >= 0) m_cache->clear();  // not worth following
    return rocksdb::Status::OK();
  }
  rocksdb::Status MergeCF(uint32_t id, const rocksdb::Slice&, const rocksdb::Slice&) override {
    if (m_cache->family_of(id) >= 0) m_cache->clear();
    return rocksdb::Status::OK();
  }
  void LogData(const rocksdb::Slice&) override {}

 private:
  void set(uint32_t id, const rocksdb::Slice& key, Value v) {
    int family = m_cache->family_of(id);
    if (family < 0) return;
    std::string full = full_key(static_cast<size_t>(family), {key.data(), key.size()});
    Shard& s = m_cache->shard(full);
    std::lock_guard lk(s.mutex);
    ++s.version;
    m_cache->put_locked(s, std::move(full), std::move(v));
  }
  RecordCache* m_cache;
};

RecordCache::RecordCache(std::vector<int64_t> cf_ids, uint64_t budget_bytes)
    : m_cf_ids(std::move(cf_ids)), m_shard_budget(budget_bytes / kShards) {}

std::string RecordCache::full_key(size_t family, std::string_view key) {
  std::string full;
  full.reserve(key.size() + 1);
  full.push_back(static_cast<char>(family));
  full.append(key);
  return full;
}

int RecordCache::family_of(uint32_t cf_id) const {
  for (size_t f = 0; f < m_cf_ids.size(); ++f)
    if (m_cf_ids[f] == static_cast<int64_t>(cf_id)) return static_cast<int>(f);
  return -1;
}

Result<RecordCache::Value> RecordCache::get(size_t family, std::string_view key,
                                            const Loader& load) {
  std::string full = full_key(family, key);
  Shard& s = shard(full);
  uint64_t version = 0;
  {
    std::lock_guard lk(s.mutex);
    auto it = s.records.find(full);
    if (it != s.records.end()) {
      s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
      m_hits.fetch_add(1, std::memory_order_relaxed);
      return it->second.value;
    }
    version = s.version;
  }
  m_misses.fetch_add(1, std::memory_order_relaxed);
  auto loaded = load();
  if (!loaded.is_ok()) return loaded;
  std::lock_guard lk(s.mutex);
  // A write to this shard since the load began may be newer than what
  // the load saw: keep nothing then (the write itself is cached).
  if (s.version == version && s.records.count(full) == 0) put_locked(s, std::move(full), *loaded);
  return loaded;
}

void RecordCache::put_locked(Shard& s, std::string full, Value v) {
  auto it = s.records.find(full);
  if (it != s.records.end()) {
    s.bytes -= cost(full, it->second.value);
    s.bytes += cost(full, v);
    it->second.value = std::move(v);
    s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
  } else {
    s.bytes += cost(full, v);
    s.lru.push_front(full);
    s.records.emplace(std::move(full), Entry{std::move(v), s.lru.begin()});
  }
  while (s.bytes > m_shard_budget && s.lru.size() > 1) {
    auto victim = s.records.find(s.lru.back());
    s.bytes -= cost(victim->first, victim->second.value);
    s.records.erase(victim);
    s.lru.pop_back();
    m_evictions.fetch_add(1, std::memory_order_relaxed);
  }
}

void RecordCache::apply(const rocksdb::WriteBatch& batch) {
  Replay replay(this);
  (void)batch.Iterate(&replay);
}

void RecordCache::clear() {
  for (Shard& s : m_shards) {
    std::lock_guard lk(s.mutex);
    ++s.version;
    s.records.clear();
    s.lru.clear();
    s.bytes = 0;
  }
}

RecordCacheStats RecordCache::stats() const {
  RecordCacheStats out;
  out.hits = m_hits.load();
  out.misses = m_misses.load();
  out.evictions = m_evictions.load();
  for (const Shard& s : m_shards) {
    std::lock_guard lk(s.mutex);
    out.records += s.records.size();
    out.bytes += s.bytes;
  }
  return out;
}

}  // namespace dynamicfs

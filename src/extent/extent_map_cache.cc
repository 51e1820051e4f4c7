// ExtentMapCache: sharded maps of encoded extent records, LRU per shard.
#include "src/extent/extent_map_cache.h"

#include "src/common/coding.h"

namespace dynamicfs {

namespace {

constexpr uint64_t kNodeOverhead = 64;  // a map node and its key, roughly

bool split_key(const rocksdb::Slice& key, uint64_t* ino, uint64_t* off) {
  if (key.size() != 16) return false;
  *ino = get_be64(key.data());
  *off = get_be64(key.data() + 8);
  return true;
}

}  // namespace

// Replays the extent mutations of one batch, in order.
class ExtentMapCache::Replay : public rocksdb::WriteBatch::Handler {
 public:
  explicit Replay(ExtentMapCache& c) : m_cache(c) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                        const rocksdb::Slice& value) override {
    uint64_t ino = 0, off = 0;
    if (cf != m_cache.m_cf_id || !split_key(key, &ino, &off)) return rocksdb::Status::OK();
    Shard& s = m_cache.shard(ino);
    std::lock_guard lk(s.mutex);
    m_cache.put_locked(s, ino, off, value.ToString());
    return rocksdb::Status::OK();
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    uint64_t ino = 0, off = 0;
    if (cf != m_cache.m_cf_id || !split_key(key, &ino, &off)) return rocksdb::Status::OK();
    Shard& s = m_cache.shard(ino);
    std::lock_guard lk(s.mutex);
    m_cache.erase_locked(s, ino, off);
    return rocksdb::Status::OK();
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return DeleteCF(cf, key);
  }
  rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice& begin,
                                const rocksdb::Slice& end) override {
    if (cf != m_cache.m_cf_id) return rocksdb::Status::OK();
    // Not used on extents; if it ever is, forget every file it may touch.
    uint64_t first = begin.size() >= 8 ? get_be64(begin.data()) : 0;
    uint64_t last = end.size() >= 8 ? get_be64(end.data()) : UINT64_MAX;
    for (auto& s : m_cache.m_shards) {
      std::lock_guard lk(s.mutex);
      for (auto it = s.files.begin(); it != s.files.end();) {
        if (it->first >= first && it->first <= last) {
          it = ExtentMapCache::drop_locked(s, it);
        } else {
          ++it;
        }
      }
    }
    return rocksdb::Status::OK();
  }

 private:
  ExtentMapCache& m_cache;
};

ExtentMapCache::ExtentMapCache(uint32_t extents_cf_id, uint64_t budget_bytes)
    : m_cf_id(extents_cf_id), m_budget(budget_bytes) {}

Result<std::vector<std::pair<uint64_t, ExtentRecord>>> ExtentMapCache::lookup(
    uint64_t ino, uint64_t start, uint64_t end, const Loader& load, const RangeLoader& load_range) {
  Shard& s = shard(ino);
  std::vector<std::pair<uint64_t, std::string>> found;
  bool oversized = false;
  {
    std::lock_guard lk(s.mutex);
    auto it = s.files.find(ino);
    if (it == s.files.end()) {
      Map map;
      Entry e;
      Status st = load(ino, file_limit(), &map);
      if (!st.is_ok() && st.err() != EFBIG) return st;
      m_loads.fetch_add(1, std::memory_order_relaxed);
      s.lru.push_front(ino);
      e.lru = s.lru.begin();
      it = s.files.emplace(ino, std::move(e)).first;
      if (st.is_ok()) {
        for (auto& [off, v] : map) put_locked(s, ino, off, std::move(v));
      } else {
        mark_oversized_locked(s, it->second);
      }
    } else {
      m_hits.fetch_add(1, std::memory_order_relaxed);
      s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
    }
    oversized = it->second.oversized;
    const Map& map = it->second.map;
    // The extent that starts at or before START may reach into the range.
    auto m = map.upper_bound(start);
    if (m != map.begin()) --m;
    for (; !oversized && m != map.end() && m->first < end; ++m)
      found.emplace_back(m->first, m->second);
    evict_locked(s);
  }
  if (oversized) {
    Map range;
    DFS_RETURN_IF_ERROR(load_range(ino, start, end, &range));
    found.assign(range.begin(), range.end());
  }
  std::vector<std::pair<uint64_t, ExtentRecord>> out;
  out.reserve(found.size());
  for (auto& [off, v] : found) {
    auto e = ExtentRecord::decode(v);
    if (!e.is_ok())
      return Status::error(e.err(), "inode " + std::to_string(ino) + ": " + e.status().message());
    if (off + e->length > start) out.emplace_back(off, std::move(e).value());
  }
  return out;
}

void ExtentMapCache::put_locked(Shard& s, uint64_t ino, uint64_t off, std::string value) {
  auto it = s.files.find(ino);
  if (it == s.files.end() || it->second.oversized) return;  // the store has it
  Entry& e = it->second;
  auto [m, inserted] = e.map.try_emplace(off);
  if (!inserted) {
    e.bytes -= m->second.size() + kNodeOverhead;
    s.bytes -= m->second.size() + kNodeOverhead;
  }
  e.bytes += value.size() + kNodeOverhead;
  s.bytes += value.size() + kNodeOverhead;
  m->second = std::move(value);
  // Grown too large to keep (a big file being written, or loaded): from
  // now on its lookups read the store.
  if (e.bytes > file_limit()) mark_oversized_locked(s, e);
}

void ExtentMapCache::mark_oversized_locked(Shard& s, Entry& e) {
  s.bytes -= e.bytes;
  e.bytes = 0;
  e.map.clear();
  e.oversized = true;
}

std::unordered_map<uint64_t, ExtentMapCache::Entry>::iterator ExtentMapCache::drop_locked(
    Shard& s, std::unordered_map<uint64_t, Entry>::iterator it) {
  s.bytes -= it->second.bytes;
  s.lru.erase(it->second.lru);
  return s.files.erase(it);
}

void ExtentMapCache::erase_locked(Shard& s, uint64_t ino, uint64_t off) {
  auto it = s.files.find(ino);
  if (it == s.files.end()) return;
  Entry& e = it->second;
  auto m = e.map.find(off);
  if (m == e.map.end()) return;
  e.bytes -= m->second.size() + kNodeOverhead;
  s.bytes -= m->second.size() + kNodeOverhead;
  e.map.erase(m);
}

void ExtentMapCache::evict_locked(Shard& s) {
  // The most recent file stays: it is in use (and within file_limit()).
  while (s.bytes > file_limit() && s.lru.size() > 1) {
    drop_locked(s, s.files.find(s.lru.back()));
    m_evictions.fetch_add(1, std::memory_order_relaxed);
  }
}

void ExtentMapCache::apply(const rocksdb::WriteBatch& batch) {
  Replay replay(*this);
  (void)batch.Iterate(&replay);
}

void ExtentMapCache::forget(uint64_t ino) {
  Shard& s = shard(ino);
  std::lock_guard lk(s.mutex);
  auto it = s.files.find(ino);
  if (it != s.files.end()) drop_locked(s, it);
}

ExtentMapCacheStats ExtentMapCache::stats() const {
  ExtentMapCacheStats st;
  st.hits = m_hits.load();
  st.loads = m_loads.load();
  st.evictions = m_evictions.load();
  for (const auto& s : m_shards) {
    std::lock_guard lk(s.mutex);
    st.files += s.files.size();
    st.bytes += s.bytes;
  }
  return st;
}

}  // namespace dynamicfs

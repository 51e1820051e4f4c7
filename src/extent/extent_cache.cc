// ExtentCache: chunked, generation-checked, sharded LRU.
#include "src/extent/extent_cache.h"

#include <cstring>

namespace dynamicfs {

ExtentCache::ExtentCache(uint64_t capacity_bytes) : m_capacity(capacity_bytes) {}

size_t ExtentCache::shard_limit() const {
  return static_cast<size_t>(m_capacity.load(std::memory_order_relaxed) / kChunk / kShards);
}

template <typename Fn>
void ExtentCache::for_each_chunk(uint32_t disk, uint64_t offset, uint64_t len, Fn&& fn) {
  uint64_t pos = 0;
  while (pos < len) {
    uint64_t at = offset + pos;
    uint64_t chunk_off = at - at % kChunk;
    auto first = static_cast<size_t>((at - chunk_off) / kBlock);
    auto count = static_cast<size_t>(std::min(len - pos, chunk_off + kChunk - at) / kBlock);
    if (!fn(chunk_key(disk, chunk_off), first, count, pos)) return;
    pos += count * kBlock;
  }
}

bool ExtentCache::get(uint32_t disk, uint64_t offset, uint64_t len, uint64_t generation,
                      char* dst) {
  if (len == 0) return true;
  if (shard_limit() == 0) return false;  // off: not counted
  bool hit = true;
  {
    for_each_chunk(disk, offset, len, [&](uint64_t key, size_t first, size_t count, uint64_t pos) {
      Shard& s = shard(key);
      std::lock_guard lk(s.mutex);
      auto it = s.index.find(key);
      if (it == s.index.end()) return hit = false;
      Chunk& c = *it->second;
      for (size_t b = first; b < first + count; ++b) {
        if (!((c.valid >> b) & 1u) || c.gen[b] != generation) return hit = false;
      }
      std::memcpy(dst + pos, c.data.get() + first * kBlock, count * kBlock);
      s.lru.splice(s.lru.begin(), s.lru, it->second);
      return true;
    });
  }
  (hit ? m_hits : m_misses).fetch_add(1, std::memory_order_relaxed);
  (hit ? m_hit_bytes : m_miss_bytes).fetch_add(len, std::memory_order_relaxed);
  return hit;
}

void ExtentCache::put(uint32_t disk, uint64_t offset, uint64_t len, uint64_t generation,
                      const char* src) {
  if (shard_limit() == 0) return;
  for_each_chunk(disk, offset, len, [&](uint64_t key, size_t first, size_t count, uint64_t pos) {
    Shard& s = shard(key);
    std::lock_guard lk(s.mutex);
    // Read under the lock: a concurrent set_capacity(0) then leaves nothing.
    const size_t limit = shard_limit();
    if (limit == 0) return false;
    auto it = s.index.find(key);
    std::list<Chunk>::iterator c;
    if (it != s.index.end()) {
      c = it->second;
      s.lru.splice(s.lru.begin(), s.lru, c);
    } else {
      // Reuse the least recently used chunk's buffer when the shard is full.
      Chunk fresh;
      while (s.lru.size() >= limit) {  // more than one after a shrink
        fresh = std::move(s.lru.back());
        s.index.erase(fresh.key);
        s.lru.pop_back();
        m_evictions.fetch_add(1, std::memory_order_relaxed);
        m_chunks.fetch_sub(1, std::memory_order_relaxed);
      }
      if (!fresh.data) fresh.data = std::make_unique<char[]>(kChunk);
      fresh.key = key;
      fresh.valid = 0;
      s.lru.push_front(std::move(fresh));
      c = s.lru.begin();
      s.index[key] = c;
      m_chunks.fetch_add(1, std::memory_order_relaxed);
    }
    std::memcpy(c->data.get() + first * kBlock, src + pos, count * kBlock);
    for (size_t b = first; b < first + count; ++b) {
      c->valid |= 1u << b;
      c->gen[b] = generation;
    }
    return true;
  });
}

void ExtentCache::invalidate(const std::vector<DiskRange>& ranges) {
  if (m_chunks.load(std::memory_order_relaxed) == 0) return;
  for (const DiskRange& r : ranges) {
    uint64_t off = r.offset - r.offset % kBlock;
    uint64_t end = (r.offset + r.length + kBlock - 1) / kBlock * kBlock;
    for_each_chunk(r.disk, off, end - off, [&](uint64_t key, size_t first, size_t count, uint64_t) {
      Shard& s = shard(key);
      std::lock_guard lk(s.mutex);
      auto it = s.index.find(key);
      if (it == s.index.end()) return true;
      for (size_t b = first; b < first + count; ++b) it->second->valid &= ~(1u << b);
      if (it->second->valid == 0) {
        s.lru.erase(it->second);
        s.index.erase(it);
        m_chunks.fetch_sub(1, std::memory_order_relaxed);
      }
      return true;
    });
  }
}

void ExtentCache::set_capacity(uint64_t bytes) {
  m_capacity.store(bytes, std::memory_order_relaxed);
  const size_t limit = shard_limit();
  for (Shard& s : m_shards) {
    std::lock_guard lk(s.mutex);
    while (s.lru.size() > limit) {
      s.index.erase(s.lru.back().key);
      s.lru.pop_back();
      m_chunks.fetch_sub(1, std::memory_order_relaxed);
      m_evictions.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

ExtentCacheStats ExtentCache::stats() const {
  ExtentCacheStats s;
  s.capacity_bytes = m_capacity.load(std::memory_order_relaxed);
  s.used_bytes = m_chunks.load(std::memory_order_relaxed) * kChunk;
  s.hits = m_hits.load(std::memory_order_relaxed);
  s.misses = m_misses.load(std::memory_order_relaxed);
  s.hit_bytes = m_hit_bytes.load(std::memory_order_relaxed);
  s.miss_bytes = m_miss_bytes.load(std::memory_order_relaxed);
  s.evictions = m_evictions.load(std::memory_order_relaxed);
  return s;
}

}  // namespace dynamicfs

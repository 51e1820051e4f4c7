// ExtentCache: a bounded in-memory cache of verified extent data, so
// repeated reads of hot files skip both the disk and the checksum. Data is
// kept by where it lives on disk (the first copy of its extent), in 64 KiB
// chunks with one bit and one generation per 4 KiB block; a block is only
// served to a reader whose extent record carries the same generation, and
// space is dropped from the cache when the allocator makes it reusable, so
// a reader can never see bytes of an extent that was freed and rewritten.
// Sharded by chunk, each shard an LRU list under its own mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "src/common/block_size.h"
#include "src/extent/allocator.h"

namespace dynamicfs {

struct ExtentCacheStats {
  uint64_t capacity_bytes = 0;
  uint64_t used_bytes = 0;        // chunks held (each takes a whole chunk)
  uint64_t hits = 0, misses = 0;  // lookups served whole from memory, or not
  uint64_t hit_bytes = 0, miss_bytes = 0;
  uint64_t evictions = 0;  // chunks dropped to stay under the capacity
  double hit_ratio() const {
    return hit_bytes + miss_bytes == 0
               ? 0.0
               : static_cast<double>(hit_bytes) / static_cast<double>(hit_bytes + miss_bytes);
  }
};

class ExtentCache {
 public:
  static constexpr uint64_t kBlock = kBlockSize;
  static constexpr uint64_t kChunk = 64 << 10;
  static constexpr size_t kBlocksPerChunk = kChunk / kBlock;
  static constexpr size_t kShards = 16;

  explicit ExtentCache(uint64_t capacity_bytes);
  ExtentCache(const ExtentCache&) = delete;
  ExtentCache& operator=(const ExtentCache&) = delete;

  // Copies [offset, offset + len) of `disk` into dst and returns true if
  // every block is cached with `generation`; false (a miss) otherwise, with
  // dst's contents unspecified. offset and len are block multiples.
  bool get(uint32_t disk, uint64_t offset, uint64_t len, uint64_t generation, char* dst);
  // Remembers verified bytes read from [offset, offset + len) of `disk`.
  void put(uint32_t disk, uint64_t offset, uint64_t len, uint64_t generation, const char* src);
  // Forgets the blocks of `ranges` (their space may be written again).
  void invalidate(const std::vector<DiskRange>& ranges);
  // Live resize; 0 turns the cache off and frees it.
  void set_capacity(uint64_t bytes);
  uint64_t capacity() const { return m_capacity.load(std::memory_order_relaxed); }
  ExtentCacheStats stats() const;

 private:
  struct Chunk {
    uint64_t key = 0;
    uint32_t valid = 0;  // bit b: block b holds data of generation gen[b]
    std::array<uint64_t, kBlocksPerChunk> gen{};
    std::unique_ptr<char[]> data;
  };
  struct alignas(64) Shard {
    std::mutex mutex;
    std::list<Chunk> lru;  // most recently used first
    std::unordered_map<uint64_t, std::list<Chunk>::iterator> index;
  };
  static uint64_t chunk_key(uint32_t disk, uint64_t chunk_off) {
    return (static_cast<uint64_t>(disk) << 48) | (chunk_off / kChunk);
  }
  Shard& shard(uint64_t key) { return m_shards[(key * 0x9E3779B97F4A7C15ull) >> 60]; }
  size_t shard_limit() const;  // chunks per shard
  // Calls fn(key, first block, block count, position in the range) for each
  // chunk the range touches.
  template <typename Fn>
  static void for_each_chunk(uint32_t disk, uint64_t offset, uint64_t len, Fn&& fn);

  std::atomic<uint64_t> m_capacity;
  std::array<Shard, kShards> m_shards;
  std::atomic<uint64_t> m_chunks{0};
  std::atomic<uint64_t> m_hits{0}, m_misses{0}, m_hit_bytes{0}, m_miss_bytes{0}, m_evictions{0};
};

}  // namespace dynamicfs

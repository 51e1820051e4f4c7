// RecordCache: the recently used point records of the metadata store —
// inodes, directory entries, extended attributes — in memory, so that a
// lookup, getattr, permission check or write serves its records without a
// RocksDB Get (a memtable skiplist search of tens of key compares, plus SST
// reads once flushed). Absent keys are kept too: a create asks whether its
// name exists, and the answer "no" is worth as much as "yes".
//
// Write-through: MetaStore replays every batch it writes here, in commit
// order, before the write returns to its caller. A miss loads from the store
// with no lock held; the loaded value is kept only if no write touched the
// key's shard while it loaded (a shard version), so a load can never put an
// older value over a newer one.
//
// Bounded: the least recently used records go when their bytes pass the
// budget.
#pragma once

#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "src/common/result.h"

namespace dynamicfs {

struct RecordCacheStats {
  uint64_t hits = 0, misses = 0, evictions = 0;
  uint64_t records = 0, bytes = 0;
};

class RecordCache {
 public:
  using Value = std::optional<std::string>;  // nullopt: the key is absent
  using Loader = std::function<Result<Value>()>;

  // `cf_ids`: RocksDB column family id of each cached family, by the
  // family's index (the same index get() takes); -1 leaves a family out.
  RecordCache(std::vector<int64_t> cf_ids, uint64_t budget_bytes);
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  bool caches(size_t family) const { return family < m_cf_ids.size() && m_cf_ids[family] >= 0; }
  // The value of KEY in FAMILY: from memory, or from `load` (no lock held).
  Result<Value> get(size_t family, std::string_view key, const Loader& load);
  // Replays a batch the store has written: puts and deletes of cached
  // families become the cached values.
  void apply(const rocksdb::WriteBatch& batch);
  // Forgets everything (a write the replay cannot follow).
  void clear();

  RecordCacheStats stats() const;

 private:
  static constexpr size_t kShards = 64;
  struct Entry {
    Value value;
    std::list<std::string>::iterator lru;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry> records;
    std::list<std::string> lru;  // most recent first
    uint64_t bytes = 0;
    uint64_t version = 0;  // bumped by every replayed write to the shard
  };
  class Replay;

  static std::string full_key(size_t family, std::string_view key);
  Shard& shard(const std::string& full) {
    return m_shards[std::hash<std::string>()(full) % kShards];
  }
  // What one record really takes on the heap (libstdc++, glibc malloc):
  // the hash node (112), the LRU list node (64), a bucket (8), the key twice
  // and the value, each a chunk of its own once past the 15 characters kept
  // inline. (Counting only the bytes of keys and values undercounted by
  // 1.5-1.75x: 247 MiB VmHWM with 1,000,000 files.)
  static uint64_t heap_chunk(size_t n) { return n <= 15 ? 0 : (n + 1 + 8 + 15) / 16 * 16; }
  static uint64_t cost(const std::string& full, const Value& v) {
    return 184 + 2 * heap_chunk(full.size()) + (v ? heap_chunk(v->size()) : 0);
  }
  // Under the shard's lock: sets FULL to V (inserting it) and trims the shard.
  void put_locked(Shard& s, std::string full, Value v);
  // Which family a column family id is, or -1.
  int family_of(uint32_t cf_id) const;

  const std::vector<int64_t> m_cf_ids;
  const uint64_t m_shard_budget;
  std::array<Shard, kShards> m_shards;
  std::atomic<uint64_t> m_hits{0}, m_misses{0}, m_evictions{0};
};

}  // namespace dynamicfs

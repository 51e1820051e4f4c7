// ExtentMapCache: the extent maps of recently used files, in memory, so that
// finding the extents of a range costs O(log extents of the file) and never
// walks RocksDB, whose memtable keeps the tombstones of a file's whole
// history of overwrites and truncates until the next flush.
//
// Write-through: the group committer hands every batch it has written to
// apply(), which replays the batch's extent puts and deletes on the maps
// that are loaded, in commit order. A map is loaded under the same shard
// lock, so a load can never install a map older than the store: a batch
// written before the load is in what it reads (and replayed again, which
// changes nothing); one written after it waits for the lock.
//
// Bounded: values are kept encoded, and the least recently used files are
// dropped when their bytes pass the budget.
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "metadata/extent_record.h"
#include "src/common/result.h"

namespace dynamicfs {

struct ExtentMapCacheStats {
  uint64_t hits = 0, loads = 0, evictions = 0;
  uint64_t files = 0, bytes = 0;
};

class ExtentMapCache {
 public:
  // Encoded extent records of one file by file offset.
  using Map = std::map<uint64_t, std::string>;
  // Reads a file's whole map from the store, or stops with EFBIG once it
  // holds more than `max_bytes` of records.
  using Loader = std::function<Status(uint64_t ino, uint64_t max_bytes, Map* out)>;
  // Reads the records of [start, end) of a file straight from the store
  // (files whose map is too large to keep).
  using RangeLoader = std::function<Status(uint64_t ino, uint64_t start, uint64_t end, Map* out)>;

  // `extents_cf_id`: the column family id of the extents family, whose
  // keys are ino (u64 BE) ++ file offset (u64 BE).
  ExtentMapCache(uint32_t extents_cf_id, uint64_t budget_bytes);
  ExtentMapCache(const ExtentMapCache&) = delete;
  ExtentMapCache& operator=(const ExtentMapCache&) = delete;

  // The extents of INO that overlap [start, end), in file order. A file
  // whose map would take more than a shard's share of the budget is not
  // kept: its lookups read the range from the store.
  Result<std::vector<std::pair<uint64_t, ExtentRecord>>> lookup(uint64_t ino, uint64_t start,
                                                                uint64_t end, const Loader& load,
                                                                const RangeLoader& load_range);
  // Replays a committed batch on the loaded maps.
  void apply(const rocksdb::WriteBatch& batch);
  // Drops INO's map (it is loaded again when used).
  void forget(uint64_t ino);

  ExtentMapCacheStats stats() const;

 private:
  static constexpr size_t kShards = 64;
  struct Entry {
    Map map;
    bool oversized = false;  // not kept: lookups go to the store
    uint64_t bytes = 0;
    std::list<uint64_t>::iterator lru;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<uint64_t, Entry> files;
    std::list<uint64_t> lru;  // most recent first
    uint64_t bytes = 0;
  };
  class Replay;

  Shard& shard(uint64_t ino) { return m_shards[ino % kShards]; }
  // Under the shard's lock: a put or delete of one extent key.
  void put_locked(Shard& s, uint64_t ino, uint64_t off, std::string value);
  void erase_locked(Shard& s, uint64_t ino, uint64_t off);
  void evict_locked(Shard& s);
  // Stops keeping E's map: lookups of its file go to the store.
  static void mark_oversized_locked(Shard& s, Entry& e);
  static std::unordered_map<uint64_t, Entry>::iterator drop_locked(
      Shard& s, std::unordered_map<uint64_t, Entry>::iterator it);
  // A shard's share of the budget: what one shard keeps, and the most one
  // file's map may take.
  uint64_t file_limit() const { return m_budget / kShards; }

  const uint32_t m_cf_id;
  const uint64_t m_budget;
  std::array<Shard, kShards> m_shards;
  std::atomic<uint64_t> m_hits{0}, m_loads{0}, m_evictions{0};
};

}  // namespace dynamicfs

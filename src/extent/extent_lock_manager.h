// ExtentLockManager: 256 shards of reader/writer locks addressed by a hash of
// a key: an inode number (its record and namespace entries), or an inode plus
// a 1 MiB slot of its bytes (range locks). Every lock of one filesystem
// operation is taken through one guard, in shard order, so two operations can
// never wait on each other in a cycle; this realises the design's lock order
// (namespace -> inode -> extent) without deadlock. Counts acquisitions and
// contended waits for lock_contention_ratio.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <shared_mutex>
#include <utility>
#include <vector>

namespace dynamicfs {

struct LockStats {
  uint64_t acquisitions = 0;
  uint64_t contended = 0;
  uint64_t wait_ns = 0;
};

class ExtentLockManager {
 public:
  static constexpr size_t kShards = 256;
  // Byte-range locking of one file is striped over 1 MiB slots. A file also
  // has a "gate": range readers hold it shared, whole-file changes
  // (truncate) hold it exclusively.
  static constexpr uint64_t kRangeSlot = 1ull << 20;
  static constexpr uint64_t kMaxRangeSlots = 64;

  static size_t shard_of(uint64_t key, uint64_t sub = 0);

  // RAII guard over a sorted, de-duplicated set of shards (each shared or
  // exclusive; a shard wanted both ways is taken exclusively).
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept;
    Guard& operator=(Guard&& o) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { release(); }
    void release();

   private:
    friend class ExtentLockManager;
    ExtentLockManager* m_mgr = nullptr;
    std::vector<std::pair<uint16_t, bool>> m_shards;  // shard, exclusive
  };

  Guard lock_exclusive(std::initializer_list<uint64_t> keys) {
    return lock(std::vector<uint64_t>(keys), true);
  }
  Guard lock_shared(uint64_t key) { return lock({key}, false); }
  Guard lock(const std::vector<uint64_t>& keys, bool exclusive);

  // Readers of bytes [start, end) of `ino`: the gate and the range, shared.
  Guard lock_range_shared(uint64_t ino, uint64_t start, uint64_t end);
  // A writer of [start, end): the inode record and the range, exclusive.
  Guard lock_range_exclusive(uint64_t ino, uint64_t start, uint64_t end);
  // Whole-file change (truncate): the inode record and the gate, exclusive.
  Guard lock_whole_file(uint64_t ino);
  // copy_file_range: no writer of `src` (its inode record shared) and a
  // whole-file change of `dst`; one guard, so src == dst works too.
  Guard lock_copy(uint64_t src, uint64_t dst);

  LockStats stats() const;

 private:
  struct Request {
    uint16_t shard;
    bool exclusive;
  };
  Guard acquire_all(std::vector<Request> requests);
  static uint16_t gate_shard(uint64_t ino) {
    return static_cast<uint16_t>(shard_of(ino, UINT64_MAX));
  }
  static void add_range(std::vector<Request>* out, uint64_t ino, uint64_t start, uint64_t end,
                        bool exclusive);

  struct alignas(64) Shard {
    std::shared_mutex mutex;
  };
  void acquire(uint16_t shard, bool exclusive);
  std::array<Shard, kShards> m_shards;
  std::atomic<uint64_t> m_acquisitions{0};
  std::atomic<uint64_t> m_contended{0};
  std::atomic<uint64_t> m_wait_ns{0};
};

}  // namespace dynamicfs

// ExtentLockManager: 256 shards of reader/writer locks addressed by a hash of
// a key (an inode number, or an inode plus extent offset). Every lock of one
// filesystem operation is taken through one guard, in shard order, so two
// operations can never wait on each other in a cycle. Counts acquisitions and
// contended waits for lock_contention_ratio.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <shared_mutex>
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

  static size_t shard_of(uint64_t key, uint64_t sub = 0);

  // RAII guard over a sorted, de-duplicated set of shards.
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
    std::vector<uint16_t> m_shards;
    bool m_exclusive = false;
  };

  Guard lock_exclusive(std::initializer_list<uint64_t> keys) {
    return lock(std::vector<uint64_t>(keys), true);
  }
  Guard lock_shared(uint64_t key) { return lock({key}, false); }
  Guard lock(std::vector<uint64_t> keys, bool exclusive);

  LockStats stats() const;

 private:
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

// AccessTracker: when each file was last read since mount (wall clock
// seconds), and when any file was. Tiering keeps recently read files on
// the fast disk class and moves cold ones off; reads are recorded only
// while tiering can act. Sharded so that reads of different files never
// contend on one lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace dynamicfs {

class AccessTracker {
 public:
  void note(uint64_t ino, uint64_t now) {
    if (m_last_any.load(std::memory_order_relaxed) != now)
      m_last_any.store(now, std::memory_order_relaxed);
    Shard& s = m_shards[ino % kShards];
    std::lock_guard lk(s.mutex);
    s.last[ino] = now;
  }
  void forget(uint64_t ino) {
    Shard& s = m_shards[ino % kShards];
    std::lock_guard lk(s.mutex);
    s.last.erase(ino);
  }
  // The last read of INO since mount, or 0.
  uint64_t last_read(uint64_t ino) const {
    const Shard& s = m_shards[ino % kShards];
    std::lock_guard lk(s.mutex);
    auto it = s.last.find(ino);
    return it == s.last.end() ? 0 : it->second;
  }
  // The latest read of any file since mount, or 0.
  uint64_t last_read_any() const { return m_last_any.load(); }

 private:
  static constexpr size_t kShards = 64;
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::unordered_map<uint64_t, uint64_t> last;
  };
  std::array<Shard, kShards> m_shards;
  std::atomic<uint64_t> m_last_any{0};
};

}  // namespace dynamicfs

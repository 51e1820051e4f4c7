// OpenFileTable: how many handles each inode has open (files and
// directories). An unlinked file keeps its data while it is open, and an
// open directory stays listable after rmdir; the last close is what lets
// the space go. Sharded so that opens and closes of different files never
// contend on one lock.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace dynamicfs {

class OpenFileTable {
 public:
  void open(uint64_t ino) {
    Shard& s = shard(ino);
    std::lock_guard lk(s.mutex);
    ++s.counts[ino];
  }
  // Drops one handle of INO; true when it was the last one (a close of an
  // inode with no handle is ignored: false).
  bool close(uint64_t ino) {
    Shard& s = shard(ino);
    std::lock_guard lk(s.mutex);
    auto it = s.counts.find(ino);
    if (it == s.counts.end()) return false;
    if (--it->second > 0) return false;
    s.counts.erase(it);
    return true;
  }
  bool is_open(uint64_t ino) const {
    const Shard& s = shard(ino);
    std::lock_guard lk(s.mutex);
    auto it = s.counts.find(ino);
    return it != s.counts.end() && it->second > 0;
  }

 private:
  static constexpr size_t kShards = 64;
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::unordered_map<uint64_t, uint32_t> counts;
  };
  Shard& shard(uint64_t ino) { return m_shards[ino % kShards]; }
  const Shard& shard(uint64_t ino) const { return m_shards[ino % kShards]; }

  std::array<Shard, kShards> m_shards;
};

}  // namespace dynamicfs

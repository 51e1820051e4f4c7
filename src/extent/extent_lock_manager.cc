// ExtentLockManager: try-lock first so contention is counted, then block.
#include "src/extent/extent_lock_manager.h"

#include <algorithm>
#include <chrono>

namespace dynamicfs {

size_t ExtentLockManager::shard_of(uint64_t key, uint64_t sub) {
  // splitmix64 finaliser: spreads sequential inode numbers across shards.
  uint64_t x = key * 0x9e3779b97f4a7c15ull ^ (sub + 0x632be59bd9b4e019ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<size_t>(x % kShards);
}

ExtentLockManager::Guard::Guard(Guard&& o) noexcept
    : m_mgr(o.m_mgr), m_shards(std::move(o.m_shards)) {
  o.m_mgr = nullptr;
}

ExtentLockManager::Guard& ExtentLockManager::Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    release();
    m_mgr = o.m_mgr;
    m_shards = std::move(o.m_shards);
    o.m_mgr = nullptr;
  }
  return *this;
}

void ExtentLockManager::Guard::release() {
  if (m_mgr == nullptr) return;
  for (auto it = m_shards.rbegin(); it != m_shards.rend(); ++it) {
    auto& m = m_mgr->m_shards[it->first].mutex;
    if (it->second) {
      m.unlock();
    } else {
      m.unlock_shared();
    }
  }
  m_mgr = nullptr;
  m_shards.clear();
}

void ExtentLockManager::acquire(uint16_t shard, bool exclusive) {
  auto& m = m_shards[shard].mutex;
  m_acquisitions.fetch_add(1, std::memory_order_relaxed);
  bool got = exclusive ? m.try_lock() : m.try_lock_shared();
  if (got) return;
  m_contended.fetch_add(1, std::memory_order_relaxed);
  auto start = std::chrono::steady_clock::now();
  if (exclusive) {
    m.lock();
  } else {
    m.lock_shared();
  }
  auto waited = std::chrono::steady_clock::now() - start;
  m_wait_ns.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()),
      std::memory_order_relaxed);
}

ExtentLockManager::Guard ExtentLockManager::acquire_all(std::vector<Request> requests) {
  // Shard order is the global lock order, so two guards never wait on each
  // other in a cycle; a shard wanted both ways is taken exclusively.
  std::sort(requests.begin(), requests.end(), [](const Request& a, const Request& b) {
    return a.shard != b.shard ? a.shard < b.shard : a.exclusive > b.exclusive;
  });
  Guard g;
  g.m_mgr = this;
  for (const Request& r : requests) {
    if (!g.m_shards.empty() && g.m_shards.back().first == r.shard) continue;
    g.m_shards.emplace_back(r.shard, r.exclusive);
  }
  for (const auto& [shard, exclusive] : g.m_shards) acquire(shard, exclusive);
  return g;
}

ExtentLockManager::Guard ExtentLockManager::lock(const std::vector<uint64_t>& keys,
                                                 bool exclusive) {
  std::vector<Request> reqs;
  for (uint64_t k : keys) reqs.push_back(Request{static_cast<uint16_t>(shard_of(k)), exclusive});
  return acquire_all(std::move(reqs));
}

void ExtentLockManager::add_range(std::vector<Request>* out, uint64_t ino, uint64_t start,
                                  uint64_t end, bool exclusive) {
  if (end <= start) end = start + 1;
  uint64_t first = start / kRangeSlot, last = (end - 1) / kRangeSlot;
  for (uint64_t slot = first; slot <= last; ++slot) {
    out->push_back(Request{static_cast<uint16_t>(shard_of(ino, slot + 1)), exclusive});
  }
}

namespace {
bool too_wide(uint64_t start, uint64_t end) {
  return end > start &&
         (end - 1) / ExtentLockManager::kRangeSlot - start / ExtentLockManager::kRangeSlot >=
             ExtentLockManager::kMaxRangeSlots;
}
}  // namespace

ExtentLockManager::Guard ExtentLockManager::lock_range_shared(uint64_t ino, uint64_t start,
                                                              uint64_t end) {
  std::vector<Request> reqs{{gate_shard(ino), false}};
  if (too_wide(start, end)) {
    reqs.push_back(
        Request{static_cast<uint16_t>(shard_of(ino)), false});  // exclude writers by inode
  } else {
    add_range(&reqs, ino, start, end, false);
  }
  return acquire_all(std::move(reqs));
}

ExtentLockManager::Guard ExtentLockManager::lock_range_exclusive(uint64_t ino, uint64_t start,
                                                                 uint64_t end) {
  std::vector<Request> reqs{{static_cast<uint16_t>(shard_of(ino)), true}};
  if (too_wide(start, end)) {
    reqs.push_back(Request{gate_shard(ino), true});  // exclude every reader of the file
  } else {
    add_range(&reqs, ino, start, end, true);
  }
  return acquire_all(std::move(reqs));
}

ExtentLockManager::Guard ExtentLockManager::lock_whole_file(uint64_t ino) {
  return acquire_all({{static_cast<uint16_t>(shard_of(ino)), true}, {gate_shard(ino), true}});
}

ExtentLockManager::Guard ExtentLockManager::lock_copy(uint64_t src, uint64_t dst) {
  return acquire_all({{static_cast<uint16_t>(shard_of(src)), false},
                      {static_cast<uint16_t>(shard_of(dst)), true},
                      {gate_shard(dst), true}});
}

LockStats ExtentLockManager::stats() const {
  return LockStats{m_acquisitions.load(), m_contended.load(), m_wait_ns.load()};
}

}  // namespace dynamicfs

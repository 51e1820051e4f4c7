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
    : m_mgr(o.m_mgr), m_shards(std::move(o.m_shards)), m_exclusive(o.m_exclusive) {
  o.m_mgr = nullptr;
}

ExtentLockManager::Guard& ExtentLockManager::Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    release();
    m_mgr = o.m_mgr;
    m_shards = std::move(o.m_shards);
    m_exclusive = o.m_exclusive;
    o.m_mgr = nullptr;
  }
  return *this;
}

void ExtentLockManager::Guard::release() {
  if (m_mgr == nullptr) return;
  for (auto it = m_shards.rbegin(); it != m_shards.rend(); ++it) {
    auto& m = m_mgr->m_shards[*it].mutex;
    if (m_exclusive) {
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

ExtentLockManager::Guard ExtentLockManager::lock(std::vector<uint64_t> keys, bool exclusive) {
  Guard g;
  g.m_mgr = this;
  g.m_exclusive = exclusive;
  for (uint64_t k : keys) g.m_shards.push_back(static_cast<uint16_t>(shard_of(k)));
  std::sort(g.m_shards.begin(), g.m_shards.end());
  g.m_shards.erase(std::unique(g.m_shards.begin(), g.m_shards.end()), g.m_shards.end());
  for (uint16_t s : g.m_shards) acquire(s, exclusive);
  return g;
}

LockStats ExtentLockManager::stats() const {
  return LockStats{m_acquisitions.load(), m_contended.load(), m_wait_ns.load()};
}

}  // namespace dynamicfs

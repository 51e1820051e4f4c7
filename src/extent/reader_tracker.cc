// ReaderTracker: sharded sets of active reader tickets.
#include "src/extent/reader_tracker.h"

#include <algorithm>

namespace dynamicfs {

ReaderTracker::Pin& ReaderTracker::Pin::operator=(Pin&& o) noexcept {
  if (this != &o) {
    release();
    m_tracker = o.m_tracker;
    m_ticket = o.m_ticket;
    o.m_tracker = nullptr;
  }
  return *this;
}

void ReaderTracker::Pin::release() {
  if (m_tracker == nullptr) return;
  auto& shard = m_tracker->m_shards[m_ticket % kShards];
  {
    std::lock_guard lk(shard.mutex);
    shard.tickets.erase(shard.tickets.find(m_ticket));
  }
  m_tracker = nullptr;
}

ReaderTracker::Pin ReaderTracker::enter() {
  Pin pin;
  pin.m_tracker = this;
  pin.m_ticket = m_clock.fetch_add(1, std::memory_order_acq_rel) + 1;
  auto& shard = m_shards[pin.m_ticket % kShards];
  std::lock_guard lk(shard.mutex);
  shard.tickets.insert(pin.m_ticket);
  return pin;
}

ReaderTracker::Pin ReaderTracker::duplicate(const Pin& pin) {
  Pin copy;
  if (pin.m_tracker == nullptr) return copy;
  copy.m_tracker = this;
  copy.m_ticket = pin.m_ticket;
  auto& shard = m_shards[copy.m_ticket % kShards];
  std::lock_guard lk(shard.mutex);
  shard.tickets.insert(copy.m_ticket);
  return copy;
}

uint64_t ReaderTracker::oldest_active() const {
  uint64_t oldest = UINT64_MAX;
  for (const auto& s : m_shards) {
    std::lock_guard lk(s.mutex);
    if (!s.tickets.empty()) oldest = std::min(oldest, *s.tickets.begin());
  }
  return oldest;
}

uint64_t ReaderTracker::active() const {
  uint64_t n = 0;
  for (const auto& s : m_shards) {
    std::lock_guard lk(s.mutex);
    n += s.tickets.size();
  }
  return n;
}

}  // namespace dynamicfs

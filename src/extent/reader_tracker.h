// ReaderTracker: knows which data readers are still running, so space freed
// by a writer is handed back to the allocator only when no reader that might
// have looked at the old extent map is still reading it (epoch-style safe
// memory reclamation, applied to disk blocks).
//
// Readers take a Pin (a ticket from a global clock) before they read the
// extent map and drop it after their last disk read. A free is tagged with a
// ticket taken after the metadata change that freed it was applied; it is safe
// to reuse once every active pin is newer than that tag.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>  // std::multiset

namespace dynamicfs {

class ReaderTracker {
 public:
  static constexpr size_t kShards = 16;

  class Pin {
   public:
    Pin() = default;
    Pin(Pin&& o) noexcept : m_tracker(o.m_tracker), m_ticket(o.m_ticket) { o.m_tracker = nullptr; }
    Pin& operator=(Pin&& o) noexcept;
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin() { release(); }
    void release();
    uint64_t ticket() const { return m_ticket; }

   private:
    friend class ReaderTracker;
    ReaderTracker* m_tracker = nullptr;
    uint64_t m_ticket = 0;
  };

  // Registers a reader; hold the pin until the reader's last disk read ends.
  Pin enter();
  // A second pin with the same ticket: work handed off by a reader (a
  // background repair of what it read) keeps the reader's protection after
  // the reader itself is done.
  Pin duplicate(const Pin& pin);
  // A tag for space whose last reference was just removed.
  uint64_t tag_free() { return m_clock.fetch_add(1, std::memory_order_acq_rel) + 1; }
  // Oldest ticket still pinned, or UINT64_MAX when no reader is active.
  uint64_t oldest_active() const;
  uint64_t active() const;

 private:
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::multiset<uint64_t> tickets;
  };
  std::atomic<uint64_t> m_clock{0};
  std::array<Shard, kShards> m_shards;
};

}  // namespace dynamicfs

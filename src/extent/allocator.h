// Allocator: free space of every pooled disk, in 4 KiB blocks. It places new
// extents (the disk with the most free space first, next-fit inside a disk so
// sequential writes stay contiguous) and holds freed space back until it is
// safe to reuse: the commit that freed it must be durable, and no reader that
// could still be reading it may be running (see ReaderTracker). Each disk has
// its own lock, so allocations on different disks never contend.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "src/common/block_size.h"
#include "src/common/result.h"

namespace dynamicfs {

struct DiskRange {
  uint32_t disk = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const DiskRange&) const = default;
};

struct DiskSpace {
  uint64_t capacity = 0;  // bytes of the data area
  uint64_t free = 0;      // allocatable now
  uint64_t deferred = 0;  // freed, waiting for a durable commit and old readers
  uint64_t used() const { return capacity - free - deferred; }
};

// Space whose last reference is gone, tagged by ReaderTracker::tag_free().
struct DeferredFree {
  DiskRange range;
  uint64_t tag = 0;
};

// A set of disks: bit i is disk i.
using DiskMask = uint64_t;
constexpr DiskMask kAllDisks = ~DiskMask{0};

class Allocator {
 public:
  static constexpr uint64_t kBlock = kBlockSize;
  static constexpr size_t kMaxDisks = 64;

  // One entry per disk: its data area [start, end). Everything starts free.
  explicit Allocator(const std::vector<std::pair<uint64_t, uint64_t>>& areas);

  // Allocates `length` bytes (block multiple) on the allowed disks, possibly
  // in several pieces; ENOSPC when they cannot hold it (nothing is taken).
  // Every allocation leaves the pool's reservations free (see reserve());
  // `may_use_reserved` bytes of them belong to the caller's file and may go.
  Result<std::vector<DiskRange>> allocate(uint64_t length, DiskMask allowed = kAllDisks,
                                          uint64_t may_use_reserved = 0);
  // One copy of `length` bytes on each of `copies` distinct allowed disks
  // (the ones with the most free space); out[c] is copy c's pieces, all on
  // one disk. ENOSPC when fewer than `copies` disks can hold it.
  Result<std::vector<std::vector<DiskRange>>> allocate_copies(uint64_t length, size_t copies,
                                                              DiskMask allowed,
                                                              uint64_t may_use_reserved = 0);

  // Reservations (fallocate): bytes of the pool promised to files and kept
  // free for them; ENOSPC when free space (with deferred frees) cannot
  // cover every reservation. Taken by reserve, given back by unreserve when
  // the file writes into its range, punches, truncates or goes away;
  // set_reserved loads the total at mount.
  Status reserve(uint64_t bytes);
  void unreserve(uint64_t bytes);
  void set_reserved(uint64_t bytes);
  uint64_t reserved() const { return m_reserved.load(); }
  // A disk added to the pool while in use; returns its index.
  Result<uint32_t> add_disk(uint64_t start, uint64_t end);
  // A disk taken out of the pool (nothing references it): no capacity, no
  // free space, and frees of its space are dropped from now on.
  void retire(uint32_t disk);
  // Returns never-referenced space immediately (a write that was abandoned).
  void free_now(const std::vector<DiskRange>& ranges);

  // Deferred frees go through three steps:
  //   defer_free()   after the metadata change that dropped the space;
  //   take_pending() before a durable commit, then mark_durable() after it;
  //   reclaim()      hands back durable frees older than every active reader.
  void defer_free(const std::vector<DiskRange>& ranges, uint64_t tag);
  std::vector<DeferredFree> take_pending();
  void mark_durable(std::vector<DeferredFree> frees);
  void return_pending(std::vector<DeferredFree> frees);  // the durable commit failed
  // Returns the bytes handed back; `before_reuse` (if given) sees their
  // ranges before anything can allocate them (cache invalidation).
  uint64_t reclaim(uint64_t oldest_active_reader,
                   const std::function<void(const std::vector<DiskRange>&)>& before_reuse = {});

  // Mount-time rebuild: marks a range used. EUCLEAN if any of it is not free
  // (doubly-owned space means damaged metadata).
  Status mark_used(const DiskRange& r);
  // Mount-time load of a checkpoint: replaces a disk's free map.
  void load_free(uint32_t disk, const std::vector<std::pair<uint64_t, uint64_t>>& free_ranges);
  std::vector<std::pair<uint64_t, uint64_t>> free_ranges(uint32_t disk) const;

  // Discard (see Discarder). Space that became free since it was last
  // discarded is "untrimmed". A claim takes free space out of the free map
  // so nothing can allocate it while the device discards it; end_discard
  // gives it back as free and trimmed. claim_untrimmed takes up to
  // `max_bytes` of still-free untrimmed space in pieces of at least
  // `min_len` (smaller ones are forgotten); claim_free takes any free space
  // at or after `*from` and advances it (a full trim, as fstrim does).
  std::vector<DiskRange> claim_untrimmed(uint32_t disk, uint64_t max_bytes, uint64_t min_len);
  std::vector<DiskRange> claim_free(uint32_t disk, uint64_t* from, uint64_t max_bytes,
                                    uint64_t min_len);
  // trimmed = false: the device did not discard them; they stay untrimmed.
  void end_discard(const std::vector<DiskRange>& ranges, bool trimmed = true);
  // Waits (up to `limit`) until no space is claimed for a discard; false on
  // timeout. An allocation that failed with ENOSPC tries again after it.
  bool wait_for_claims(std::chrono::milliseconds limit);
  uint64_t untrimmed_bytes(uint32_t disk) const;

  DiskSpace space(uint32_t disk) const;
  size_t disk_count() const { return m_count.load(std::memory_order_acquire); }

 private:
  struct DiskFree {
    mutable std::mutex mutex;
    uint64_t start = 0, end = 0;
    std::map<uint64_t, uint64_t> free;  // offset -> length, coalesced
    std::atomic<uint64_t> free_bytes{0};
    std::atomic<uint64_t> deferred_bytes{0};
    std::map<uint64_t, uint64_t> untrimmed;  // freed since discarded; may overlap used space
    uint64_t untrimmed_bytes = 0;
    std::atomic<uint64_t> claimed_bytes{0};  // out of the free map for a discard
    uint64_t cursor = 0;
    bool retired = false;
  };
  // Reservations: while any exist, an allocation checks and takes under
  // m_reserve_mutex. An allocation that found none counts itself in
  // m_ungated, and reserve() waits for those to finish before it checks,
  // so neither can miss the other.
  class Gate;
  uint64_t free_total(bool with_deferred) const;
  Result<std::vector<DiskRange>> allocate_pieces(uint64_t length, DiskMask allowed);
  Result<std::vector<std::vector<DiskRange>>> allocate_copies_on(uint64_t length, size_t copies,
                                                                 DiskMask allowed);
  std::mutex m_reserve_mutex;
  std::atomic<uint64_t> m_reserved{0};
  std::atomic<uint64_t> m_ungated{0};

  // Allowed disks, the one with the most free space first.
  std::vector<uint32_t> by_free_space(DiskMask allowed) const;
  void insert_free_locked(DiskFree& d, uint64_t off, uint64_t len);
  static void insert_untrimmed_locked(DiskFree& d, uint64_t off, uint64_t len);
  // One discard claim on DISK: under its lock, CLAIM(d, budget, out) moves
  // up to `budget` bytes (never more than half of what is free) to `out`
  // and returns how many; they count as claimed. Nothing for an unknown disk.
  template <class Claim>
  std::vector<DiskRange> claim_on(uint32_t disk, uint64_t max_bytes, Claim&& claim);
  // Moves the free parts of [off, off + len) of at least min_len to `out`.
  void claim_range_locked(DiskFree& d, uint32_t index, uint64_t off, uint64_t len, uint64_t min_len,
                          std::vector<DiskRange>* out);
  void take_locked(DiskFree& d, uint64_t off, uint64_t len,
                   std::map<uint64_t, uint64_t>::iterator it);
  uint64_t allocate_on_locked(DiskFree& d, uint32_t index, uint64_t need,
                              std::vector<DiskRange>* out);

  // Slots fill once and never move, so readers index them without a lock.
  std::array<std::unique_ptr<DiskFree>, kMaxDisks> m_disks;
  std::atomic<size_t> m_count{0};
  std::mutex m_add_mutex;
  std::mutex m_claim_mutex;  // wait_for_claims
  std::condition_variable m_claim_cv;
  std::mutex m_deferred_mutex;
  std::vector<DeferredFree> m_pending;  // not yet covered by a durable commit
  std::vector<DeferredFree> m_durable;  // durable, maybe still read by old readers
};

}  // namespace dynamicfs

// FaultPlan: faults a test asks a Disk to inject, so the layers above can be
// checked against failing hardware without real failing hardware: reads or
// writes that fail with an errno, a write torn after its first 4 KiB while
// reporting success, and (with journaling on) a power loss that undoes every
// write not covered by a completed sync, all of them or a random subset
// (writes reach a real disk in any order). A Disk without a plan pays one
// pointer test per operation.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

class FaultPlan {
 public:
  // errno for every following read (write); 0 stops failing.
  void fail_reads(int err) { m_read_errno = err; }
  void fail_writes(int err) { m_write_errno = err; }
  // The next write stores only its first 4 KiB and still reports success.
  void tear_next_write() { m_tear_next = true; }
  // No more read, write or tear faults (the journal stays as it is).
  void clear_faults() {
    m_read_errno = 0;
    m_write_errno = 0;
    m_tear_next = false;
  }
  // A slow disk: every sync waits while syncs are held. wait_for_held_sync()
  // returns once a sync is waiting (no sleeping in tests).
  void hold_syncs();
  void release_syncs();
  void wait_for_held_sync();
  // Called by Disk::sync right before its fdatasync.
  void sync_gate();
  // Remember what unsynced writes overwrote, for power_loss().
  void journal_unsynced(bool on);

  // Serialises a Disk's writes with power_loss(), so no write lands after
  // the power went; after it every write fails with EIO.
  std::unique_lock<std::mutex> write_lock() { return std::unique_lock(m_write_mutex); }
  bool powered_off() const { return m_off; }

  // Hooks called by Disk around its own I/O.
  int read_errno() const { return m_read_errno; }
  int write_errno() const { return m_write_errno; }
  // Called before a write of [offset, offset + len): journals the old bytes
  // (read through fd) and returns how many bytes to really write.
  uint64_t before_write(int fd, uint64_t offset, uint64_t len);
  // A sync began (returns a mark) / completed (forgets writes before mark).
  // sync_done is false when the power went while the sync ran: the sync
  // never completed, and the writes it was to cover are undone.
  size_t sync_begins();
  [[nodiscard]] bool sync_done(size_t mark);

  // Undoes unsynced writes through fd, newest first: all of them, or each
  // with probability 1/2 (seeded), as if they had not reached the disk.
  // Returns how many were undone.
  Result<size_t> power_loss(int fd, bool random_subset, uint64_t seed);
  size_t unsynced_writes() const;

 private:
  struct PreImage {
    uint64_t offset = 0;
    std::string old;
  };
  std::atomic<int> m_read_errno{0};
  std::atomic<int> m_write_errno{0};
  std::atomic<bool> m_tear_next{false};
  std::atomic<bool> m_off{false};
  std::mutex m_write_mutex;
  mutable std::mutex m_mutex;
  bool m_journal = false;
  std::condition_variable m_hold_cv;
  bool m_hold = false;
  size_t m_held = 0;  // syncs waiting on the hold now
  std::vector<PreImage> m_unsynced;
};

}  // namespace dynamicfs

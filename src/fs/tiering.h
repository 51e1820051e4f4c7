// Tiering: placement of new data on the ssd class and the background
// migration between classes. New extents go to ssd disks while they are
// under kFastFillLimit; a pass every interval_ms moves the least recently
// used files' copies off the ssd class while it is above the high water
// mark (down to the low water mark), and moves one copy of recently read
// files back onto it while it is below the low water mark. A file's last
// access is its last read since mount, else its mtime. Copies move the way
// `disk remove` moves them (the MoveCopies callback, DataPlacement's
// replace_copies): written at Background priority from a verified read,
// swapped in one commit if the record is unchanged, the old space released
// like overwritten space.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "metadata/extent_record.h"
#include "src/common/result.h"
#include "src/extent/allocator.h"
#include "src/extent/volume.h"
#include "src/fs/access_tracker.h"
#include "src/fs/fs_types.h"
#include "src/fs/inode_store.h"
#include "src/io/background_scheduler.h"

namespace dynamicfs {

class Tiering {
 public:
  // Disk space of each copy of a piece of data.
  using Placement = std::vector<std::vector<DiskRange>>;
  // Rewrites the live record VALUE (under KEY) of E with copies KEEP plus
  // ADD new ones on ALLOWED disks and releases DROPPED; nothing happens if
  // the record changed meanwhile; ENOSPC when the target disks are full.
  using MoveCopies =
      std::function<Status(std::string_view key, std::string_view value, const ExtentRecord& e,
                           const std::vector<ExtentCopy>& keep,
                           const std::vector<DiskRange>& dropped, size_t add, DiskMask allowed)>;

  // JOBS: the scheduler the pass runs on (a pass ends early once it stops).
  Tiering(Volume& volume, Allocator& alloc, const InodeStore& inodes,
          const BackgroundScheduler& jobs, MoveCopies move);

  // Live settings (the caller wakes the pass).
  void set_settings(const TierSettings& t);
  TierSettings settings() const;
  TierStats stats() const;

  // Whether tiering can act now (enabled, both classes writable); kept for
  // the read path, refreshed at mount and by every pass.
  bool refresh_active();
  // A read of INO (recorded while tiering can act).
  void note_access(uint64_t ino);
  // INO is gone.
  void forget(uint64_t ino) { m_access.forget(ino); }
  // Placement of new data on the ssd class while tiering is active and the
  // class has room; nothing when the data goes anywhere instead.
  Result<std::optional<Placement>> allocate(uint64_t length, size_t copies,
                                            uint64_t may_use_reserved);
  // One migration pass (the background job, and tests).
  Status run_pass();
  // Holds passes off while the caller places copies itself (disk remove).
  std::unique_lock<std::mutex> hold_passes() { return std::unique_lock(m_pass_mutex); }

 private:
  struct Masks {
    DiskMask ssd = 0, hdd = 0;  // the writable disks of each class
  };
  Masks masks() const;
  TierClassUse class_use(DiskMask mask) const;
  // The last read or the mtime, whichever is later.
  uint64_t last_access(uint64_t ino) const;
  // Moves up to MAX_MOVES copies of the extents of INO that are on FROM
  // disks to TO disks; adds the bytes moved.
  Status migrate_file(uint64_t ino, DiskMask from, DiskMask to, size_t max_moves,
                      uint64_t* moved_bytes, uint64_t* moved_extents);

  Volume& m_volume;
  Allocator& m_alloc;
  const InodeStore& m_inodes;
  const BackgroundScheduler& m_jobs;
  const MoveCopies m_move;
  const bool m_read_only;

  AccessTracker m_access;      // the last read of each file
  mutable std::mutex m_mutex;  // guards m_settings
  TierSettings m_settings;
  std::atomic<bool> m_on{false};
  std::atomic<bool> m_active{false};
  std::atomic<uint64_t> m_demoted_bytes{0}, m_promoted_bytes{0};
  std::atomic<uint64_t> m_demoted_extents{0}, m_promoted_extents{0}, m_passes{0};
  std::mutex m_pass_mutex;  // one pass at a time
};

}  // namespace dynamicfs

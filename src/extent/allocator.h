// Allocator: free space of every pooled disk, in 4 KiB blocks. It places new
// extents (the disk with the most free space first, next-fit inside a disk so
// sequential writes stay contiguous) and holds freed space back until the
// commit that freed it is durable (defer_free / release_deferred), so a crash
// can never leave metadata pointing at reused space.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

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
  uint64_t deferred = 0;  // freed, waiting for a durable commit
};

class Allocator {
 public:
  static constexpr uint64_t kBlock = 4096;

  // One entry per disk: its data area [start, end). Everything starts free.
  explicit Allocator(const std::vector<std::pair<uint64_t, uint64_t>>& areas);

  // Allocates `length` bytes (block multiple), possibly in several pieces;
  // ENOSPC when the pool cannot hold it (nothing is taken then).
  Result<std::vector<DiskRange>> allocate(uint64_t length);
  // Returns never-referenced space immediately (a write that was abandoned).
  void free_now(const std::vector<DiskRange>& ranges);
  // Queues space freed by a metadata change; allocatable after release_deferred.
  void defer_free(const std::vector<DiskRange>& ranges);
  // Takes the deferred list as of now; call release() with it after the
  // commit covering those frees is durable.
  std::vector<DiskRange> take_deferred();
  void release(const std::vector<DiskRange>& ranges) { free_now(ranges); }

  // Mount-time rebuild: marks a range used. EUCLEAN if any of it is not free
  // (doubly-owned space means damaged metadata).
  Status mark_used(const DiskRange& r);
  // Mount-time load of a checkpoint: replaces a disk's free map.
  void load_free(uint32_t disk, const std::vector<std::pair<uint64_t, uint64_t>>& free_ranges);
  std::vector<std::pair<uint64_t, uint64_t>> free_ranges(uint32_t disk) const;

  DiskSpace space(uint32_t disk) const;
  size_t disk_count() const { return m_disks.size(); }

 private:
  struct DiskFree {
    uint64_t start = 0, end = 0;
    std::map<uint64_t, uint64_t> free;  // offset -> length, coalesced
    uint64_t free_bytes = 0;
    uint64_t cursor = 0;
  };
  void insert_free_locked(DiskFree& d, uint64_t off, uint64_t len);
  void take_locked(DiskFree& d, uint64_t off, uint64_t len,
                   std::map<uint64_t, uint64_t>::iterator it);

  mutable std::mutex m_mutex;
  std::vector<DiskFree> m_disks;
  std::vector<DiskRange> m_deferred;
  std::vector<uint64_t> m_deferred_bytes;
};

}  // namespace dynamicfs

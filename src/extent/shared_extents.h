// SharedExtents: reference counts of disk space that more than one extent
// record points at. Instant copies (copy_file_range) and, later, snapshots
// share extents instead of copying bytes; every write is already out of
// place, so sharing only changes when space may be freed: a range goes back
// to the allocator when its last reference goes.
//
// Space without an entry has exactly one owner, so a volume that never
// shares keeps this map empty. While mounted the map is authoritative; it is
// saved with the clean-unmount checkpoint and rebuilt from the extent map
// after a crash (count()). Its mutex is the innermost lock: never held
// across I/O or a commit.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "src/extent/allocator.h"

namespace dynamicfs {

class SharedExtents {
 public:
  // One more reference to every byte of `r`.
  void share(const DiskRange& r);
  // One reference less to every byte of each range; appends to `now_free`
  // the parts whose last reference this was.
  void release(const std::vector<DiskRange>& ranges, std::vector<DiskRange>* now_free);

  // Checkpoint form: each shared range with its references beyond the first.
  std::vector<std::pair<DiskRange, uint32_t>> entries() const;
  void load(const DiskRange& r, uint32_t extra);
  // Bytes of disk space that have more than one owner.
  uint64_t shared_bytes() const;
  // Bytes of the space REFS cover whose every reference is one of REFS
  // (REFS must be references this map counts): what would be freed if
  // they all went, e.g. the space only a snapshot holds.
  uint64_t held_only_by(const std::vector<DiskRange>& refs) const;
  bool empty() const;

  // From every extent reference on a volume: the space in use (a sorted,
  // coalesced union per disk) and, in `shared`, the ranges referenced more
  // than once.
  static std::vector<DiskRange> count(std::vector<DiskRange> refs, SharedExtents* shared);

 private:
  struct Entry {
    uint64_t length = 0;
    uint32_t extra = 0;  // references beyond the first
  };
  using Key = std::pair<uint32_t, uint64_t>;  // disk, offset
  using Map = std::map<Key, Entry>;

  // Splits the entry that straddles `at`, so an entry starts there if any
  // covers it.
  void split_locked(uint32_t disk, uint64_t at);
  // Merges neighbours with equal counts around [start, end).
  void coalesce_locked(uint32_t disk, uint64_t start, uint64_t end);
  // [start, end) pieces tiling `r`, each with its extra references.
  struct Piece {
    uint64_t start = 0, end = 0;
    uint32_t extra = 0;
  };
  std::vector<Piece> pieces_locked(const DiskRange& r) const;
  void release_one_locked(const DiskRange& r, std::vector<DiskRange>* now_free);
  // Splits at both ends of `r`, then visits its entries (on_entry returns
  // the iterator after the visited one) and the gaps between them in order.
  template <typename OnEntry, typename OnGap>
  void walk_locked(const DiskRange& r, OnEntry on_entry, OnGap on_gap);

  mutable std::mutex m_mutex;
  Map m_map;
  uint64_t m_shared_bytes = 0;
};

}  // namespace dynamicfs

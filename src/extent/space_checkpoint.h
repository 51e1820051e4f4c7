// The space checkpoint a clean unmount leaves in the alloc column family:
// every disk's free ranges and the reference counts of shared space. Read
// by mount (to skip the rebuild) and by fsck (to compare with the extents).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "metadata/meta_store.h"
#include "src/extent/allocator.h"

namespace dynamicfs {

struct SpaceCheckpoint {
  std::vector<DiskRange> free;
  std::vector<std::pair<DiskRange, uint32_t>> shared;  // range, references beyond the first
};

// EUCLEAN for a malformed record or one naming a disk the volume lacks.
Result<SpaceCheckpoint> read_space_checkpoint(const MetaStore& meta, size_t disk_count);

// The disk space every copy of every extent in META references (of the live
// volume or of a snapshot's checkpoint), one range per copy; the error of a
// malformed record names its inode.
Result<std::vector<DiskRange>> extent_space(const MetaStore& meta);

}  // namespace dynamicfs

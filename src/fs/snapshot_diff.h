// SnapshotDiff: what changed between two snapshots of a volume (`dynamicfs
// snapshot diff`): files added, removed and changed (with the file ranges
// whose data differs), and per disk the byte ranges the newer snapshot
// references that the older one does not: what a delta replication has to
// send. It reads the two frozen metadata checkpoints only, so it needs no
// daemon and changes nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/extent/allocator.h"

namespace dynamicfs {

struct FileChange {
  std::string path;
  uint32_t mode = 0;
  uint64_t size = 0;                                  // in the newer snapshot (older if removed)
  bool data = false;                                  // contents differ
  bool attributes = false;                            // mode, owner, size or mtime differ
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // changed file bytes: offset, length
};

struct SnapshotDelta {
  std::vector<FileChange> added, removed, changed;
  std::vector<DiskRange> new_space;  // referenced by NEW, not by OLD; sorted, merged
  uint64_t new_space_bytes() const;
};

class SnapshotDiff {
 public:
  static Result<SnapshotDelta> compare(const MetaStore& older, const MetaStore& newer);
};

}  // namespace dynamicfs

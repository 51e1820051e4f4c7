// Fsck: the offline checker of a volume's metadata (`dynamicfs fsck`). It
// reads every inode, directory entry, extent and the clean-unmount space
// checkpoint, and checks them against each other: entries that point nowhere,
// link counts, directories' parent pointers, inodes no entry reaches, extents
// of missing files or outside the disks, space used twice or leaked, and the
// reference counts of shared extents. With repair it fixes what it safely
// can in one atomic batch: dangling entries go, counts are rewritten,
// unreachable inodes are reconnected under /lost+found, and a space
// checkpoint that disagrees is dropped so the next mount rebuilds it from
// the extent map. Exit codes follow e2fsck: 0 clean, 1 fixed, 4 left
// uncorrected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/extent/volume.h"

namespace dynamicfs {

struct FsckReport {
  struct Problem {
    std::string what;
    bool fixable = false;  // repair can correct it
  };
  std::vector<Problem> problems;
  std::vector<std::string> notes;  // facts that are not errors
  bool repaired = false;           // problems were fixed (repair mode)
  uint64_t inodes = 0, entries = 0, extents = 0;
  uint64_t used_bytes = 0, shared_bytes = 0;

  // e2fsck's convention: 0 clean, 1 errors corrected, 4 errors left.
  int exit_code() const;
};

class Fsck {
 public:
  // The volume must not be mounted (Volume::open refuses a volume in use).
  static Result<FsckReport> run(Volume& volume, bool repair);
};

}  // namespace dynamicfs

// InodeRecord: the attributes of one inode as stored in the `inodes` column
// family (value layout documented in docs/format.md).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "src/common/clock.h"
#include "src/common/result.h"

namespace dynamicfs {

// The root directory's inode number (FUSE_ROOT_ID); mkfs creates it.
inline constexpr uint64_t kRootIno = 1;

struct InodeRecord {
  static constexpr uint8_t kVersion = 1;

  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t alloc_bytes = 0;  // bytes of disk space held by extents (st_blocks)
  uint64_t rdev = 0;
  uint64_t generation = 0;  // bumped by every data or size change
  uint64_t parent = 0;      // directories only: the containing directory
  Timestamp atime, mtime, ctime, crtime;
  // fallocate reservation: the file ranges fallocate covered (block
  // aligned, sorted, disjoint) and how many bytes of them are still holes,
  // each held `reserve_copies` times in the pool. Stored after the fixed
  // fields only when present; st_blocks counts the reserved bytes.
  std::vector<std::pair<uint64_t, uint64_t>> reserve_ranges;  // offset -> length
  uint64_t reserved_bytes = 0;
  uint32_t reserve_copies = 0;
  uint64_t reserved_raw() const { return reserved_bytes * reserve_copies; }

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_reg() const { return S_ISREG(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }

  std::string encode() const;
  static Result<InodeRecord> decode(uint64_t ino, std::string_view value);
  void to_stat(struct stat* st) const;
};

}  // namespace dynamicfs

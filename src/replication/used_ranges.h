// UsedRanges: which byte ranges of a disk (block device or plain file) hold
// data worth replicating, so `dynamicfs image create` can build a torrent of
// only the used parts of a disk. It understands dynamicfs disks (superblock,
// metadata area and every allocated extent) and ext2/3/4 filesystems (their
// own block bitmap); anything else can only be taken whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

// [offset, offset + length) in bytes on a disk.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;

  uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

enum class DiskContent { kDynamicfs, kExt, kUnknown };

const char* disk_content_name(DiskContent c);

class UsedRanges {
 public:
  // What the disk's first bytes say it holds: a dynamicfs superblock (magic
  // only; a damaged one is still kDynamicfs), an ext2/3/4 superblock, or
  // anything else (including a disk too small to tell).
  static Result<DiskContent> detect(const std::string& disk_path);

  // The whole disk: one range [0, size) (none for an empty disk).
  static Result<std::vector<ByteRange>> full(const std::string& disk_path);

  // ext2/3/4: the blocks marked used in the filesystem's block bitmap, plus
  // the boot area before the first data block, as sorted, merged byte
  // ranges. Refuses a filesystem that is mounted read-write or whose journal
  // needs recovery: its bitmap on disk may be stale.
  static Result<std::vector<ByteRange>> ext_used(const std::string& disk_path);

  // A disk of the dynamicfs volume in VOLUME_DIR: [0, data_start)
  // (superblock and reserved area) and every extent stored on it, read from
  // the volume's metadata opened read-only (so the volume may be mounted; the
  // answer is then a snapshot). Refuses a disk that belongs to another volume
  // or that volume.toml does not list. Sorted and merged.
  static Result<std::vector<ByteRange>> dynamicfs_used(const std::string& disk_path,
                                                       const std::string& volume_dir);

  // Widens every range to ALIGN-byte boundaries (0 or 1: no widening), clips
  // it to [0, disk_size), drops empty ones, sorts them and merges those that
  // overlap or touch.
  static std::vector<ByteRange> normalize(std::vector<ByteRange> ranges, uint64_t align,
                                          uint64_t disk_size);

  // Sum of the lengths.
  static uint64_t total_bytes(const std::vector<ByteRange>& ranges);
};

}  // namespace dynamicfs

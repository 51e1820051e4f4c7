// ExtentRecord: where one piece of a file lives. Stored in the `extents`
// column family under (ino, file offset); immutable once written except that
// trimming a piece (overwrite, truncate) rewrites it as a sub-range of the
// same disk space with the matching slice of checksums, and that relocation
// (disk remove, re-replication) swaps a copy for an identical one elsewhere.
//
// With replicas > 1 an extent has several copies, each on its own disk,
// holding the same bytes; the checksums are shared by all of them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct ExtentCopy {
  uint32_t disk = 0;
  uint64_t offset = 0;  // bytes, block aligned
  bool operator==(const ExtentCopy&) const = default;
};

struct ExtentRecord {
  // Version 1 holds exactly one copy; version 2 a count and the copies.
  // A record with one copy is still written as version 1.
  static constexpr uint8_t kVersion1 = 1;
  static constexpr uint8_t kVersion2 = 2;
  static constexpr uint32_t kBlock = 4096;
  static constexpr size_t kMaxCopies = 8;

  std::vector<ExtentCopy> copies;  // at least one, on distinct disks
  uint32_t length = 0;             // bytes, multiple of kBlock
  uint64_t generation = 0;         // inode generation that wrote it
  std::vector<uint32_t> crcs;      // one crc32c per 4 KiB block

  uint32_t blocks() const { return length / kBlock; }
  // The sub-extent [skip, skip + len) of this one (both block aligned).
  ExtentRecord slice(uint32_t skip, uint32_t len) const;
  // The copy on `disk`, or nullptr.
  const ExtentCopy* copy_on(uint32_t disk) const;

  std::string encode() const;
  static Result<ExtentRecord> decode(std::string_view value);
  bool operator==(const ExtentRecord&) const = default;
};

}  // namespace dynamicfs

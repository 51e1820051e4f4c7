// ExtentRecord: where one piece of a file lives. Stored in the `extents`
// column family under (ino, file offset); immutable once written except that
// trimming a piece (overwrite, truncate) rewrites it as a sub-range of the
// same disk space with the matching slice of checksums.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct ExtentRecord {
  static constexpr uint8_t kVersion = 1;
  static constexpr uint32_t kBlock = 4096;

  uint32_t disk = 0;
  uint64_t disk_offset = 0;    // bytes, block aligned
  uint32_t length = 0;         // bytes, multiple of kBlock
  uint64_t generation = 0;     // inode generation that wrote it
  std::vector<uint32_t> crcs;  // one crc32c per 4 KiB block

  uint32_t blocks() const { return length / kBlock; }
  // The sub-extent [skip, skip + len) of this one (both block aligned).
  ExtentRecord slice(uint32_t skip, uint32_t len) const;

  std::string encode() const;
  static Result<ExtentRecord> decode(std::string_view value);
  bool operator==(const ExtentRecord&) const = default;
};

}  // namespace dynamicfs

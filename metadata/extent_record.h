// ExtentRecord: where one piece of a file lives. Stored in the `extents`
// column family under (ino, file offset); immutable once written except that
// trimming a piece (overwrite, truncate) rewrites it as a sub-range of the
// same disk space with the matching slice of checksums, and that relocation
// (disk remove, re-replication) swaps a copy for an identical one elsewhere.
//
// With replicas > 1 an extent has several copies, each on its own disk,
// holding the same bytes; the checksums are shared by all of them.
//
// An erasure-coded extent (ec_k > 0) is a window onto one Reed-Solomon
// stripe: k data units and m parity units of unit_blocks blocks each, unit i
// on disk copies[i]. Data block d of the stripe is block d % unit_blocks of
// unit d / unit_blocks; parity row r covers block r of every data unit. The
// window is data blocks [skip, skip + blocks()) of the stripe; slicing moves
// the window and never the stripe, whose crcs (every data block, then every
// parity block) stay whole. Each window references the whole stripe's space
// (space()), so the stripe is freed when its last window goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/block_size.h"
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
  static constexpr uint8_t kVersion3 = 3;  // erasure coded
  static constexpr uint32_t kBlock = kBlockSize;
  static constexpr size_t kMaxCopies = 8;
  static constexpr size_t kMaxUnits = 16;  // k + m of a stripe

  std::vector<ExtentCopy> copies;  // at least one, on distinct disks
  uint32_t length = 0;             // bytes, multiple of kBlock
  uint64_t generation = 0;         // write sequence tag of the write that made it
  std::vector<uint32_t> crcs;      // one crc32c per 4 KiB block (EC: per stripe block)
  uint8_t ec_k = 0, ec_m = 0;      // erasure coded when ec_k > 0; copies are the units
  uint32_t unit_blocks = 0;        // EC: blocks per unit
  uint32_t skip = 0;               // EC: first stripe data block of the window

  uint32_t blocks() const { return length / kBlock; }
  bool is_ec() const { return ec_k > 0; }
  // The crc of block b of the window.
  uint32_t data_crc(uint64_t b) const { return crcs[is_ec() ? skip + b : b]; }
  // EC: where window block b lives: the unit and the block inside it.
  uint32_t unit_of(uint64_t b) const { return static_cast<uint32_t>((skip + b) / unit_blocks); }
  uint64_t row_of(uint64_t b) const { return (skip + b) % unit_blocks; }
  // The sub-extent [skip, skip + len) of this one (both block aligned).
  ExtentRecord slice(uint32_t skip, uint32_t len) const;
  // The disk space this record references: each copy's bytes, or every
  // unit of an EC stripe whole.
  // f(disk, offset, length) for each piece.
  template <typename F>
  void for_each_space(F f) const {
    const uint64_t len = is_ec() ? uint64_t{unit_blocks} * kBlock : length;
    for (const auto& c : copies) f(c.disk, c.offset, len);
  }
  // The copy on `disk`, or nullptr.
  const ExtentCopy* copy_on(uint32_t disk) const;

  std::string encode() const;
  static Result<ExtentRecord> decode(std::string_view value);
  bool operator==(const ExtentRecord&) const = default;
};

}  // namespace dynamicfs

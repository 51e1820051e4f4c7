// The volume's block: the unit of allocation, of every extent's length and
// of every checksum (docs/format.md). One definition; the parts that name it
// (ExtentRecord::kBlock, Allocator::kBlock, block_buffer::kBlock, ...) alias
// it in the integer type their arithmetic uses.
#pragma once

#include <cstdint>

namespace dynamicfs {

inline constexpr uint64_t kBlockSize = 4096;

}  // namespace dynamicfs

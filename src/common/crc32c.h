// crc32c (Castagnoli) over data blocks and superblocks, computed with ISA-L's
// hardware-accelerated implementation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dynamicfs {

uint32_t crc32c(const void* data, size_t len, uint32_t seed = 0);

}  // namespace dynamicfs

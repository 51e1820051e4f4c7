// Block buffers for ReplicaIo (copies and stripes): 4 KiB-aligned heap
// memory, as O_DIRECT disks need, and the per-block checksum test.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "src/common/crc32c.h"

namespace dynamicfs::block_buffer {

constexpr size_t kBlock = 4096;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using Ptr = std::unique_ptr<char, FreeDeleter>;

// At least one block; `n` a multiple of kBlock.
inline Ptr make(size_t n) {
  return Ptr(static_cast<char*>(std::aligned_alloc(kBlock, n ? n : kBlock)));
}

inline bool block_ok(const char* p, uint32_t crc) {
  return crc32c(p, kBlock) == crc;
}

}  // namespace dynamicfs::block_buffer

// Block buffers and block arithmetic shared by file reads and writes,
// ReplicaIo and stripes: block-aligned heap memory (checksums and disk I/O
// work on whole blocks, and aligned buffers keep a later move to O_DIRECT
// disks open) and the per-block checksum test.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "src/common/block_size.h"
#include "src/common/crc32c.h"

namespace dynamicfs::block_buffer {

constexpr size_t kBlock = kBlockSize;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using Ptr = std::unique_ptr<char, FreeDeleter>;

// At least one block; `n` a multiple of kBlock.
inline Ptr make(size_t n) {
  return Ptr(static_cast<char*>(std::aligned_alloc(kBlock, n ? n : kBlock)));
}

inline uint64_t align_down(uint64_t v) {
  return v & ~(uint64_t{kBlock} - 1);
}
inline uint64_t align_up(uint64_t v) {
  return (v + kBlock - 1) & ~(uint64_t{kBlock} - 1);
}

inline bool block_ok(const char* p, uint32_t crc) {
  return crc32c(p, kBlock) == crc;
}

}  // namespace dynamicfs::block_buffer

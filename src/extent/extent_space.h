// append_space: the disk space an extent record references, in the
// allocator's terms. Every place that frees, counts or shares a record's
// space goes through it, so replicated copies and erasure-coded stripes
// (whose every window holds the whole stripe) are counted alike.
#pragma once

#include <vector>

#include "metadata/extent_record.h"
#include "src/extent/allocator.h"

namespace dynamicfs {

inline void append_space(const ExtentRecord& e, std::vector<DiskRange>* out) {
  e.for_each_space([out](uint32_t disk, uint64_t offset, uint64_t length) {
    out->push_back(DiskRange{disk, offset, length});
  });
}

inline uint64_t space_bytes(const ExtentRecord& e) {
  uint64_t total = 0;
  e.for_each_space([&total](uint32_t, uint64_t, uint64_t length) { total += length; });
  return total;
}

}  // namespace dynamicfs

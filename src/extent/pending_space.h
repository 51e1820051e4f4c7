// PendingSpace: disk space taken for a change that may still be abandoned
// (an error, or a race that forces a retry). It goes back to the allocator
// when the guard goes, unless the change committed.
#pragma once

#include <vector>

#include "src/extent/allocator.h"

namespace dynamicfs {

class PendingSpace {
 public:
  explicit PendingSpace(Allocator& alloc) : m_alloc(alloc) {}
  ~PendingSpace() {
    if (!m_committed) m_alloc.free_now(ranges);
  }
  PendingSpace(const PendingSpace&) = delete;
  PendingSpace& operator=(const PendingSpace&) = delete;
  // The change that references the space is applied: keep it.
  void committed() { m_committed = true; }

  std::vector<DiskRange> ranges;

 private:
  Allocator& m_alloc;
  bool m_committed = false;
};

}  // namespace dynamicfs

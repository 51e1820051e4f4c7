// Allocator: coalescing free maps per disk.
#include "src/extent/allocator.h"

#include <algorithm>

namespace dynamicfs {

Allocator::Allocator(const std::vector<std::pair<uint64_t, uint64_t>>& areas) {
  m_disks.resize(areas.size());
  m_deferred_bytes.assign(areas.size(), 0);
  for (size_t i = 0; i < areas.size(); ++i) {
    auto& d = m_disks[i];
    d.start = areas[i].first;
    d.end = areas[i].second & ~(kBlock - 1);
    d.cursor = d.start;
    if (d.end > d.start) {
      d.free[d.start] = d.end - d.start;
      d.free_bytes = d.end - d.start;
    }
  }
}

void Allocator::insert_free_locked(DiskFree& d, uint64_t off, uint64_t len) {
  if (len == 0) return;
  d.free_bytes += len;
  auto next = d.free.lower_bound(off);
  if (next != d.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      off = prev->first;
      len += prev->second;
      d.free.erase(prev);
    }
  }
  if (next != d.free.end() && off + len == next->first) {
    len += next->second;
    d.free.erase(next);
  }
  d.free[off] = len;
}

void Allocator::take_locked(DiskFree& d, uint64_t off, uint64_t len,
                            std::map<uint64_t, uint64_t>::iterator it) {
  uint64_t fo = it->first, fl = it->second;
  d.free.erase(it);
  if (off > fo) d.free[fo] = off - fo;
  if (off + len < fo + fl) d.free[off + len] = fo + fl - (off + len);
  d.free_bytes -= len;
}

Result<std::vector<DiskRange>> Allocator::allocate(uint64_t length) {
  length = (length + kBlock - 1) & ~(kBlock - 1);
  std::lock_guard lk(m_mutex);
  // Placement: the disk with the most free space; spill to the next ones.
  std::vector<uint32_t> order(m_disks.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return m_disks[a].free_bytes > m_disks[b].free_bytes;
  });
  uint64_t total = 0;
  for (auto& d : m_disks) total += d.free_bytes;
  if (total < length) return Status::error(ENOSPC, "pool is full");

  std::vector<DiskRange> out;
  uint64_t need = length;
  for (uint32_t di : order) {
    auto& d = m_disks[di];
    while (need > 0 && d.free_bytes > 0) {
      // Next-fit: first free range at or after the cursor, else wrap.
      auto it = d.free.upper_bound(d.cursor);
      if (it != d.free.begin()) {
        auto prev = std::prev(it);
        if (prev->first + prev->second > d.cursor) it = prev;
      }
      if (it == d.free.end()) it = d.free.begin();
      uint64_t start = std::max(it->first, d.cursor);
      if (start >= it->first + it->second) start = it->first;
      uint64_t avail = it->first + it->second - start;
      uint64_t take = std::min(avail, need);
      take_locked(d, start, take, it);
      out.push_back(DiskRange{di, start, take});
      d.cursor = start + take;
      need -= take;
    }
    if (need == 0) break;
  }
  return out;
}

void Allocator::free_now(const std::vector<DiskRange>& ranges) {
  std::lock_guard lk(m_mutex);
  for (const auto& r : ranges) {
    if (r.disk < m_disks.size()) insert_free_locked(m_disks[r.disk], r.offset, r.length);
  }
}

void Allocator::defer_free(const std::vector<DiskRange>& ranges) {
  std::lock_guard lk(m_mutex);
  for (const auto& r : ranges) {
    m_deferred.push_back(r);
    if (r.disk < m_deferred_bytes.size()) m_deferred_bytes[r.disk] += r.length;
  }
}

std::vector<DiskRange> Allocator::take_deferred() {
  std::lock_guard lk(m_mutex);
  std::vector<DiskRange> out;
  out.swap(m_deferred);
  std::fill(m_deferred_bytes.begin(), m_deferred_bytes.end(), 0);
  return out;
}

Status Allocator::mark_used(const DiskRange& r) {
  std::lock_guard lk(m_mutex);
  if (r.disk >= m_disks.size())
    return Status::error(EUCLEAN, "extent on unknown disk " + std::to_string(r.disk));
  auto& d = m_disks[r.disk];
  auto it = d.free.upper_bound(r.offset);
  if (it == d.free.begin())
    return Status::error(EUCLEAN, "space allocated twice or outside the data area");
  --it;
  if (it->first + it->second < r.offset + r.length) {
    return Status::error(EUCLEAN, "space on disk " + std::to_string(r.disk) + " at " +
                                      std::to_string(r.offset) +
                                      " is referenced twice or lies outside the data area");
  }
  take_locked(d, r.offset, r.length, it);
  return Status::ok();
}

void Allocator::load_free(uint32_t disk,
                          const std::vector<std::pair<uint64_t, uint64_t>>& free_ranges) {
  std::lock_guard lk(m_mutex);
  auto& d = m_disks.at(disk);
  d.free.clear();
  d.free_bytes = 0;
  for (auto [off, len] : free_ranges) insert_free_locked(d, off, len);
}

std::vector<std::pair<uint64_t, uint64_t>> Allocator::free_ranges(uint32_t disk) const {
  std::lock_guard lk(m_mutex);
  const auto& d = m_disks.at(disk);
  return {d.free.begin(), d.free.end()};
}

DiskSpace Allocator::space(uint32_t disk) const {
  std::lock_guard lk(m_mutex);
  const auto& d = m_disks.at(disk);
  return DiskSpace{d.end - d.start, d.free_bytes, m_deferred_bytes[disk]};
}

}  // namespace dynamicfs

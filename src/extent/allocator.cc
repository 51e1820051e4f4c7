// Allocator: coalescing free maps per disk, each under its own mutex.
#include "src/extent/allocator.h"

#include <algorithm>
#include <thread>

namespace dynamicfs {

Allocator::Allocator(const std::vector<std::pair<uint64_t, uint64_t>>& areas) {
  for (const auto& area : areas) (void)add_disk(area.first, area.second);
}

Result<uint32_t> Allocator::add_disk(uint64_t start, uint64_t end) {
  std::lock_guard lk(m_add_mutex);
  size_t n = m_count.load();
  if (n >= kMaxDisks)
    return Status::error(ENOSPC, "a pool holds at most " + std::to_string(kMaxDisks) + " disks");
  auto d = std::make_unique<DiskFree>();
  d->start = start;
  d->end = end & ~(kBlock - 1);
  d->cursor = d->start;
  if (d->end > d->start) {
    d->free[d->start] = d->end - d->start;
    d->free_bytes = d->end - d->start;
  }
  m_disks[n] = std::move(d);
  m_count.store(n + 1, std::memory_order_release);
  return static_cast<uint32_t>(n);
}

void Allocator::retire(uint32_t disk) {
  if (disk >= disk_count()) return;
  auto& d = *m_disks[disk];
  std::lock_guard lk(d.mutex);
  d.retired = true;
  d.free.clear();
  d.free_bytes = 0;
  d.untrimmed.clear();
  d.untrimmed_bytes = 0;
  d.end = d.start;
}

void Allocator::insert_free_locked(DiskFree& d, uint64_t off, uint64_t len) {
  if (len == 0 || d.retired) return;
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

uint64_t Allocator::allocate_on_locked(DiskFree& d, uint32_t index, uint64_t need,
                                       std::vector<DiskRange>* out) {
  uint64_t got = 0;
  while (got < need && !d.free.empty()) {
    // Next-fit: the free range holding or following the cursor, else wrap.
    auto it = d.free.upper_bound(d.cursor);
    if (it != d.free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second > d.cursor) it = prev;
    }
    if (it == d.free.end()) it = d.free.begin();
    uint64_t start = std::max(it->first, d.cursor);
    if (start >= it->first + it->second) start = it->first;
    uint64_t take = std::min(it->first + it->second - start, need - got);
    take_locked(d, start, take, it);
    out->push_back(DiskRange{index, start, take});
    d.cursor = start + take;
    got += take;
  }
  return got;
}

namespace {
bool allowed_disk(DiskMask m, uint32_t i) {
  return i < 64 && ((m >> i) & 1) != 0;
}
}  // namespace

std::vector<uint32_t> Allocator::by_free_space(DiskMask allowed) const {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < disk_count(); ++i)
    if (allowed_disk(allowed, i)) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return m_disks[a]->free_bytes > m_disks[b]->free_bytes;
  });
  return order;
}

// Admits one allocation of `need` bytes past the pool's reservations.
class Allocator::Gate {
 public:
  Gate(Allocator& a, uint64_t need, uint64_t may_use) : m_alloc(a) {
    a.m_ungated.fetch_add(1);
    if (a.m_reserved.load() == 0) return;  // none: no lock on the common path
    a.m_ungated.fetch_sub(1);
    m_ungated = false;
    m_lock = std::unique_lock(a.m_reserve_mutex);
    const uint64_t reserved = a.m_reserved.load();
    const uint64_t others = reserved - std::min(reserved, may_use);
    m_ok = a.free_total(false) >= others + need;
  }
  ~Gate() {
    if (m_ungated) m_alloc.m_ungated.fetch_sub(1);
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  bool ok() const { return m_ok; }

 private:
  Allocator& m_alloc;
  std::unique_lock<std::mutex> m_lock;
  bool m_ungated = true;
  bool m_ok = true;
};

uint64_t Allocator::free_total(bool with_deferred) const {
  uint64_t total = 0;
  for (uint32_t i = 0; i < disk_count(); ++i) {
    const auto& d = *m_disks[i];
    total += d.free_bytes.load() + d.claimed_bytes.load();
    if (with_deferred) total += d.deferred_bytes.load();
  }
  return total;
}

Status Allocator::reserve(uint64_t bytes) {
  std::lock_guard lk(m_reserve_mutex);
  m_reserved.fetch_add(bytes);
  // Allocations that started before the reservation was visible finish
  // first (they take microseconds), so the check below sees what they took.
  while (m_ungated.load() != 0) std::this_thread::yield();
  if (free_total(true) < m_reserved.load()) {
    m_reserved.fetch_sub(bytes);
    return Status::error(ENOSPC, "the pool cannot reserve " + std::to_string(bytes) + " bytes");
  }
  return Status::ok();
}

void Allocator::unreserve(uint64_t bytes) {
  std::lock_guard lk(m_reserve_mutex);
  m_reserved.fetch_sub(std::min(bytes, m_reserved.load()));
}

void Allocator::set_reserved(uint64_t bytes) {
  std::lock_guard lk(m_reserve_mutex);
  m_reserved.store(bytes);
}

Result<std::vector<DiskRange>> Allocator::allocate(uint64_t length, DiskMask allowed,
                                                   uint64_t may_use_reserved) {
  length = (length + kBlock - 1) & ~(kBlock - 1);
  Gate gate(*this, length, may_use_reserved);
  if (!gate.ok()) return Status::error(ENOSPC, "the rest of the pool is reserved (fallocate)");
  return allocate_pieces(length, allowed);
}

Result<std::vector<std::vector<DiskRange>>> Allocator::allocate_copies(uint64_t length,
                                                                       size_t copies,
                                                                       DiskMask allowed,
                                                                       uint64_t may_use_reserved) {
  length = (length + kBlock - 1) & ~(kBlock - 1);
  Gate gate(*this, length * copies, may_use_reserved);
  if (!gate.ok()) return Status::error(ENOSPC, "the rest of the pool is reserved (fallocate)");
  return allocate_copies_on(length, copies, allowed);
}

Result<std::vector<DiskRange>> Allocator::allocate_pieces(uint64_t length, DiskMask allowed) {
  // Placement: the disk with the most free space first; spill to the others.
  std::vector<DiskRange> out;
  uint64_t got = 0;
  for (uint32_t i : by_free_space(allowed)) {
    std::lock_guard lk(m_disks[i]->mutex);
    got += allocate_on_locked(*m_disks[i], i, length - got, &out);
    if (got == length) return out;
  }
  free_now(out);
  return Status::error(ENOSPC, "pool is full");
}

Result<std::vector<std::vector<DiskRange>>> Allocator::allocate_copies_on(uint64_t length,
                                                                          size_t copies,
                                                                          DiskMask allowed) {
  std::vector<std::vector<DiskRange>> out;
  for (uint32_t i : by_free_space(allowed)) {
    if (out.size() == copies) break;
    std::vector<DiskRange> pieces;
    std::lock_guard lk(m_disks[i]->mutex);
    if (m_disks[i]->free_bytes < length) continue;
    uint64_t got = allocate_on_locked(*m_disks[i], i, length, &pieces);
    if (got < length) {
      for (const auto& r : pieces) insert_free_locked(*m_disks[i], r.offset, r.length);
      continue;
    }
    out.push_back(std::move(pieces));
  }
  if (out.size() == copies) return out;
  for (const auto& c : out) free_now(c);
  return Status::error(ENOSPC, "pool cannot hold " + std::to_string(copies) +
                                   " copies: too few disks with free space");
}

void Allocator::free_now(const std::vector<DiskRange>& ranges) {
  for (const auto& r : ranges) {
    if (r.disk >= disk_count()) continue;
    auto& d = *m_disks[r.disk];
    std::lock_guard lk(d.mutex);
    insert_free_locked(d, r.offset, r.length);
    if (!d.retired) insert_untrimmed_locked(d, r.offset, r.length);
  }
}

void Allocator::insert_untrimmed_locked(DiskFree& d, uint64_t off, uint64_t len) {
  // Coalesces with neighbours; an overlap with an older entry (space freed,
  // reused and freed again before a discard) is merged, counted once.
  uint64_t end = off + len;
  auto it = d.untrimmed.upper_bound(off);
  if (it != d.untrimmed.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second >= off) it = prev;
  }
  while (it != d.untrimmed.end() && it->first <= end) {
    off = std::min(off, it->first);
    end = std::max(end, it->first + it->second);
    d.untrimmed_bytes -= it->second;
    it = d.untrimmed.erase(it);
  }
  d.untrimmed[off] = end - off;
  d.untrimmed_bytes += end - off;
}

void Allocator::claim_range_locked(DiskFree& d, uint32_t index, uint64_t off, uint64_t len,
                                   uint64_t min_len, std::vector<DiskRange>* out) {
  uint64_t end = off + len;
  auto it = d.free.upper_bound(off);
  if (it != d.free.begin() && std::prev(it)->first + std::prev(it)->second > off) --it;
  while (it != d.free.end() && it->first < end) {
    uint64_t lo = std::max(off, it->first);
    uint64_t hi = std::min(end, it->first + it->second);
    auto next = std::next(it);
    if (hi - lo >= min_len) {
      take_locked(d, lo, hi - lo, it);
      out->push_back(DiskRange{index, lo, hi - lo});
    }
    it = next;
  }
}

template <class Claim>
std::vector<DiskRange> Allocator::claim_on(uint32_t disk, uint64_t max_bytes, Claim&& claim) {
  std::vector<DiskRange> out;
  if (disk >= disk_count()) return out;
  auto& d = *m_disks[disk];
  std::lock_guard lk(d.mutex);
  // Never more than half of what is free: allocations keep room meanwhile.
  const uint64_t budget = std::min(max_bytes, d.free_bytes.load() / 2 / kBlock * kBlock);
  d.claimed_bytes += claim(d, budget, &out);
  return out;
}

std::vector<DiskRange> Allocator::claim_untrimmed(uint32_t disk, uint64_t max_bytes,
                                                  uint64_t min_len) {
  return claim_on(disk, max_bytes, [&](DiskFree& d, uint64_t budget, std::vector<DiskRange>* out) {
    uint64_t got = 0;
    while (!d.untrimmed.empty() && got < budget) {
      auto [off, len] = *d.untrimmed.begin();
      uint64_t take = std::min(len, budget - got);
      d.untrimmed.erase(d.untrimmed.begin());
      if (take < len) d.untrimmed[off + take] = len - take;
      d.untrimmed_bytes -= take;
      size_t before = out->size();
      claim_range_locked(d, disk, off, take, min_len, out);
      for (size_t i = before; i < out->size(); ++i) got += (*out)[i].length;
    }
    return got;
  });
}

std::vector<DiskRange> Allocator::claim_free(uint32_t disk, uint64_t* from, uint64_t max_bytes,
                                             uint64_t min_len) {
  return claim_on(disk, max_bytes, [&](DiskFree& d, uint64_t budget, std::vector<DiskRange>* out) {
    uint64_t got = 0;
    auto it = d.free.lower_bound(*from);
    if (it != d.free.begin() && std::prev(it)->first + std::prev(it)->second > *from) --it;
    // Stops once what is left of the budget cannot hold a range of min_len,
    // so `from` never skips ranges it did not look at.
    while (it != d.free.end() && got < budget && budget - got >= min_len) {
      uint64_t lo = std::max(*from, it->first);
      uint64_t hi = std::min(it->first + it->second, lo + (budget - got));
      auto next = std::next(it);
      *from = hi;
      if (hi - lo >= min_len) {
        take_locked(d, lo, hi - lo, it);
        out->push_back(DiskRange{disk, lo, hi - lo});
        got += hi - lo;
      }
      it = next;
    }
    // Whatever this claim covers is trimmed now.
    for (const auto& r : *out) {
      auto u = d.untrimmed.upper_bound(r.offset);
      if (u != d.untrimmed.begin() && std::prev(u)->first + std::prev(u)->second > r.offset) --u;
      while (u != d.untrimmed.end() && u->first < r.offset + r.length) {
        auto [uo, ul] = *u;
        d.untrimmed_bytes -= ul;
        u = d.untrimmed.erase(u);
        if (uo < r.offset) {
          d.untrimmed[uo] = r.offset - uo;
          d.untrimmed_bytes += r.offset - uo;
        }
        if (uo + ul > r.offset + r.length) {
          d.untrimmed[r.offset + r.length] = uo + ul - (r.offset + r.length);
          d.untrimmed_bytes += uo + ul - (r.offset + r.length);
          break;
        }
      }
    }
    return got;
  });
}

void Allocator::end_discard(const std::vector<DiskRange>& ranges, bool trimmed) {
  for (const auto& r : ranges) {
    if (r.disk >= disk_count()) continue;
    auto& d = *m_disks[r.disk];
    std::lock_guard lk(d.mutex);
    insert_free_locked(d, r.offset, r.length);
    if (!trimmed && !d.retired) insert_untrimmed_locked(d, r.offset, r.length);
    d.claimed_bytes -= r.length;
  }
  std::lock_guard lk(m_claim_mutex);
  m_claim_cv.notify_all();
}

bool Allocator::wait_for_claims(std::chrono::milliseconds limit) {
  auto none = [&] {
    for (size_t i = 0; i < disk_count(); ++i)
      if (m_disks[i]->claimed_bytes.load() != 0) return false;
    return true;
  };
  std::unique_lock lk(m_claim_mutex);
  return m_claim_cv.wait_for(lk, limit, none);
}

uint64_t Allocator::untrimmed_bytes(uint32_t disk) const {
  if (disk >= disk_count()) return 0;
  const auto& d = *m_disks[disk];
  std::lock_guard lk(d.mutex);
  return d.untrimmed_bytes;
}

void Allocator::defer_free(const std::vector<DiskRange>& ranges, uint64_t tag) {
  std::lock_guard lk(m_deferred_mutex);
  for (const auto& r : ranges) {
    if (r.disk >= disk_count() || r.length == 0) continue;
    m_pending.push_back(DeferredFree{r, tag});
    m_disks[r.disk]->deferred_bytes += r.length;
  }
}

std::vector<DeferredFree> Allocator::take_pending() {
  std::lock_guard lk(m_deferred_mutex);
  std::vector<DeferredFree> out;
  out.swap(m_pending);
  return out;
}

void Allocator::mark_durable(std::vector<DeferredFree> frees) {
  std::lock_guard lk(m_deferred_mutex);
  m_durable.insert(m_durable.end(), frees.begin(), frees.end());
}

void Allocator::return_pending(std::vector<DeferredFree> frees) {
  std::lock_guard lk(m_deferred_mutex);
  m_pending.insert(m_pending.end(), frees.begin(), frees.end());
}

uint64_t Allocator::reclaim(
    uint64_t oldest_active_reader,
    const std::function<void(const std::vector<DiskRange>&)>& before_reuse) {
  std::vector<DiskRange> ready;
  {
    std::lock_guard lk(m_deferred_mutex);
    auto keep = std::partition(m_durable.begin(), m_durable.end(), [&](const DeferredFree& f) {
      return f.tag >= oldest_active_reader;
    });
    for (auto it = keep; it != m_durable.end(); ++it) {
      ready.push_back(it->range);
      m_disks[it->range.disk]->deferred_bytes -= it->range.length;
    }
    m_durable.erase(keep, m_durable.end());
  }
  uint64_t bytes = 0;
  for (const auto& r : ready) bytes += r.length;
  if (before_reuse && !ready.empty()) before_reuse(ready);
  free_now(ready);
  return bytes;
}

Status Allocator::mark_used(const DiskRange& r) {
  if (r.disk >= disk_count())
    return Status::error(EUCLEAN, "extent on unknown disk " + std::to_string(r.disk));
  auto& d = *m_disks[r.disk];
  std::lock_guard lk(d.mutex);
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
  if (disk >= disk_count()) return;
  auto& d = *m_disks[disk];
  std::lock_guard lk(d.mutex);
  d.free.clear();
  d.free_bytes = 0;
  for (auto [off, len] : free_ranges) insert_free_locked(d, off, len);
}

std::vector<std::pair<uint64_t, uint64_t>> Allocator::free_ranges(uint32_t disk) const {
  if (disk >= disk_count()) return {};
  const auto& d = *m_disks[disk];
  std::lock_guard lk(d.mutex);
  return {d.free.begin(), d.free.end()};
}

DiskSpace Allocator::space(uint32_t disk) const {
  if (disk >= disk_count()) return {};
  const auto& d = *m_disks[disk];
  uint64_t capacity = 0;
  {
    std::lock_guard lk(d.mutex);  // retire() changes the area
    capacity = d.end - d.start;
  }
  // Space being discarded is free: it is back in a moment.
  return DiskSpace{capacity, d.free_bytes.load() + d.claimed_bytes.load(), d.deferred_bytes.load()};
}

}  // namespace dynamicfs

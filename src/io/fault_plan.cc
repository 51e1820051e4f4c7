// FaultPlan: the journal of pre-images and its replay at a power loss.
#include "src/io/fault_plan.h"

#include <unistd.h>

#include <random>

namespace dynamicfs {

void FaultPlan::journal_unsynced(bool on) {
  std::lock_guard lk(m_mutex);
  m_journal = on;
  if (!on) m_unsynced.clear();
}

uint64_t FaultPlan::before_write(int fd, uint64_t offset, uint64_t len) {
  uint64_t keep = len;
  if (m_tear_next.exchange(false)) keep = std::min<uint64_t>(len, 4096);
  std::lock_guard lk(m_mutex);
  if (m_journal) {
    PreImage p;
    p.offset = offset;
    p.old.resize(len);
    ssize_t n = ::pread(fd, p.old.data(), len, static_cast<off_t>(offset));
    p.old.resize(n > 0 ? static_cast<size_t>(n) : 0);
    m_unsynced.push_back(std::move(p));
  }
  return keep;
}

void FaultPlan::hold_syncs() {
  std::lock_guard lk(m_mutex);
  m_hold = true;
}

void FaultPlan::release_syncs() {
  {
    std::lock_guard lk(m_mutex);
    m_hold = false;
  }
  m_hold_cv.notify_all();
}

void FaultPlan::wait_for_held_sync() {
  std::unique_lock lk(m_mutex);
  m_hold_cv.wait(lk, [this] { return m_held > 0 || !m_hold; });
}

void FaultPlan::sync_gate() {
  std::unique_lock lk(m_mutex);
  if (!m_hold) return;
  ++m_held;
  m_hold_cv.notify_all();
  m_hold_cv.wait(lk, [this] { return !m_hold; });
  --m_held;
}

size_t FaultPlan::sync_begins() {
  std::lock_guard lk(m_mutex);
  return m_unsynced.size();
}

bool FaultPlan::sync_done(size_t mark) {
  std::lock_guard lk(m_mutex);
  if (m_off) return false;
  mark = std::min(mark, m_unsynced.size());
  m_unsynced.erase(m_unsynced.begin(), m_unsynced.begin() + static_cast<ptrdiff_t>(mark));
  return true;
}

size_t FaultPlan::unsynced_writes() const {
  std::lock_guard lk(m_mutex);
  return m_unsynced.size();
}

Result<size_t> FaultPlan::power_loss(int fd, bool random_subset, uint64_t seed) {
  std::lock_guard writes(m_write_mutex);
  m_off = true;
  std::lock_guard lk(m_mutex);
  std::mt19937_64 rng(seed);
  size_t undone = 0;
  for (auto it = m_unsynced.rbegin(); it != m_unsynced.rend(); ++it) {
    if (random_subset && rng() % 2 == 0) continue;  // this one did reach the disk
    ssize_t n = ::pwrite(fd, it->old.data(), it->old.size(), static_cast<off_t>(it->offset));
    if (n != static_cast<ssize_t>(it->old.size()))
      return Status::from_errno("power-loss replay of a disk");
    ++undone;
  }
  m_unsynced.clear();
  return undone;
}

}  // namespace dynamicfs

// Discarder: the batching worker and the on-demand trim.
#include "src/fs/discarder.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace dynamicfs {

Discarder::Discarder(Volume& volume, Allocator& alloc, BackgroundScheduler& jobs, bool enabled)
    : m_volume(volume), m_alloc(alloc), m_enabled(enabled), m_jobs(jobs) {
  BackgroundScheduler::Job job;
  job.name = "discard";
  job.pass = [this] { pass(); };
  m_job = m_jobs.start(std::move(job));
}

void Discarder::notify() {
  if (m_enabled.load(std::memory_order_relaxed)) m_jobs.wake(m_job);
}

void Discarder::set_enabled(bool on) {
  m_enabled.store(on);
  if (on) notify();
}

bool Discarder::usable(uint32_t disk) const {
  if (disk >= m_volume.disk_count() || m_unsupported[disk].load()) return false;
  DiskState s = m_volume.disk_state(disk);
  return (s == DiskState::kOnline || s == DiskState::kDraining) &&
         !m_volume.disk(disk).is_missing();
}

Status Discarder::discard_claimed(uint32_t disk, const std::vector<DiskRange>& ranges,
                                  uint64_t* bytes) {
  IoJob job;
  job.op = IoJob::Op::kCall;
  job.cls = IoClass::kBackground;
  uint64_t done = 0, ops = 0;
  job.call = [&](const Disk& d) -> Status {
    for (const DiskRange& r : ranges) {
      DFS_RETURN_IF_ERROR(d.discard(r.offset, r.length));
      done += r.length;
      ++ops;
    }
    return Status::ok();
  };
  Status st = m_volume.scheduler(disk).run(job);
  // Free again whatever the device said; what it did not discard (an
  // error other than "not supported") stays untrimmed for the next batch.
  m_alloc.end_discard(ranges, /*trimmed=*/st.is_ok() || st.err() == EOPNOTSUPP);
  m_bytes.fetch_add(done);
  m_ops.fetch_add(ops);
  if (bytes != nullptr) *bytes += done;
  if (st.err() == EOPNOTSUPP) {
    if (!m_unsupported[disk].exchange(true))
      spdlog::info("disk {} does not support discard; freed space stays allocated on it", disk);
  } else if (!st.is_ok() && st.err() != ESHUTDOWN) {
    m_errors.fetch_add(1);
    spdlog::warn("discard on disk {} failed: {}", disk, st.to_string());
  }
  return st;
}

void Discarder::pass() {
  // Let frees that come together go together.
  if (m_jobs.wait_for_stop(std::chrono::milliseconds(kDelayMs))) return;
  drain_untrimmed([this] { return m_jobs.stopping() || !m_enabled.load(); });
}

void Discarder::drain_untrimmed(const std::function<bool()>& stop_early) {
  for (uint32_t d = 0; d < m_volume.disk_count(); ++d) {
    while (usable(d) && !stop_early()) {
      auto claimed = m_alloc.claim_untrimmed(d, kBatchBytes, kMinAutoBytes);
      if (claimed.empty()) break;
      if (!discard_claimed(d, claimed, nullptr).is_ok()) break;
    }
  }
}

void Discarder::discard_untrimmed_now() {
  if (!m_enabled.load()) return;
  drain_untrimmed([] { return false; });
}

Result<TrimResult> Discarder::trim(uint64_t min_len) {
  min_len = std::clamp<uint64_t>(min_len, Allocator::kBlock, kBatchBytes);
  min_len = (min_len + Allocator::kBlock - 1) & ~(Allocator::kBlock - 1);
  TrimResult out;
  bool any_supported = false;
  for (uint32_t d = 0; d < m_volume.disk_count(); ++d) {
    m_unsupported[d] = false;  // ask the device again
    if (!usable(d)) continue;
    uint64_t bytes = 0;
    uint64_t from = 0;
    Status st;
    while (true) {
      auto claimed = m_alloc.claim_free(d, &from, kBatchBytes, min_len);
      if (claimed.empty()) break;
      st = discard_claimed(d, claimed, &bytes);
      if (!st.is_ok()) break;
    }
    if (st.err() == EOPNOTSUPP) continue;
    if (!st.is_ok()) return st;
    any_supported = true;
    ++out.disks;
    out.bytes += bytes;
  }
  if (!any_supported && m_volume.disk_count() > 0)
    return Status::error(EOPNOTSUPP, "no disk of the volume supports discard");
  return out;
}

DiscardStats Discarder::stats() const {
  DiscardStats s;
  s.enabled = m_enabled.load();
  s.bytes = m_bytes.load();
  s.ops = m_ops.load();
  s.errors = m_errors.load();
  for (uint32_t d = 0; d < m_volume.disk_count(); ++d) {
    s.pending += m_alloc.untrimmed_bytes(d);
    if (m_unsupported[d].load()) ++s.unsupported;
  }
  return s;
}

}  // namespace dynamicfs

// VolumeSync: the data pass, the check that lets the WAL reach its file, and
// the WAL sync outside any hold.
#include "src/fs/volume_sync.h"

#include <thread>
#include <vector>

namespace dynamicfs {

namespace {
void raise_to(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t prev = a.load(std::memory_order_relaxed);
  while (prev < v && !a.compare_exchange_weak(prev, v)) {
  }
}
}  // namespace

VolumeSync::VolumeSync(Volume& volume, const ReplicaIo& replicas, GroupCommitCoordinator& commit)
    : m_volume(volume), m_replicas(replicas), m_commit(commit) {}

void VolumeSync::note_commit() {
  // The data writes of every batch in the group completed (and were
  // counted) before the batch was applied, so the counters now bound what
  // the group points at.
  for (size_t d = 0; d < m_volume.disk_count(); ++d)
    raise_to(m_frontier[d], m_replicas.plain_writes(d));
}

bool VolumeSync::data_covered() const {
  for (size_t d = 0; d < m_volume.disk_count(); ++d) {
    if (m_frontier[d].load() > m_synced_plain[d].load() &&
        m_volume.disk_state(d) != DiskState::kFailed)
      return false;
  }
  return true;
}

Status VolumeSync::sync_data_disks(bool all) {
  std::vector<size_t> dirty;
  std::vector<uint64_t> written, plain;
  for (size_t d = 0; d < m_volume.disk_count(); ++d) {
    // Plain first: every write it counts is also in the total read after.
    uint64_t p = m_replicas.plain_writes(d);
    uint64_t w = m_replicas.writes(d);
    bool behind = all ? m_synced[d].load() < w : m_synced_plain[d].load() < p;
    if (behind && m_volume.disk_state(d) != DiskState::kFailed) {
      dirty.push_back(d);
      written.push_back(w);
      plain.push_back(p);
    }
  }
  if (dirty.empty()) return Status::ok();
  // Each sync runs through its disk's scheduler, which runs it in the
  // calling thread when the disk is idle; a second dirty disk gets a helper
  // thread. (Handing the syncs to the disks' workers instead measured 25 %
  // fewer fdatasync'd writes with 16 jobs on one file: the hand-off waits
  // for a worker to be scheduled on a busy machine.)
  std::vector<Status> results(dirty.size());
  auto sync_one = [&](size_t i) {
    results[i] = m_volume.scheduler(dirty[i]).sync(IoClass::kCritical);
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < dirty.size(); ++i) helpers.emplace_back(sync_one, i);
  sync_one(0);
  for (auto& t : helpers) t.join();
  for (size_t i = 0; i < dirty.size(); ++i) {
    if (!results[i].is_ok()) {
      // With another writable disk, every extent written since the last
      // sync also has a copy there: the failed disk drops out and the
      // round goes on. Otherwise the data is not durable: say so.
      if (m_volume.replicas() <= 1 || m_volume.writable_count() <= 1) return results[i];
      m_volume.mark_failed(dirty[i], "sync failed: " + results[i].to_string());
      continue;
    }
    raise_to(m_synced[dirty[i]], written[i]);
    raise_to(m_synced_plain[dirty[i]], plain[i]);
  }
  return Status::ok();
}

Status VolumeSync::run_round() {
  for (int pass = 1;; ++pass) {
    DFS_RETURN_IF_ERROR(sync_data_disks(/*all=*/false));
    bool written = false;
    uint64_t seq = 0;
    if (pass < kMaxChase) {
      DFS_RETURN_IF_ERROR(m_commit.write_wal_if([this] { return data_covered(); }, &written, &seq));
    } else {
      // Writers keep applying batches faster than the disks sync: one
      // pass with batches held back, so the round ends.
      m_gated_rounds.fetch_add(1, std::memory_order_relaxed);
      Status data;
      DFS_RETURN_IF_ERROR(m_commit.write_wal_if(
          [&] {
            data = sync_data_disks(/*all=*/false);
            return data.is_ok() && data_covered();
          },
          &written, &seq));
      DFS_RETURN_IF_ERROR(data);
      if (!written) return Status::error(EIO, "data sync did not cover the applied metadata");
    }
    if (written) return m_commit.sync_written(seq);
  }
}

}  // namespace dynamicfs

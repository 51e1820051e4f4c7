// VolumeSync: how fsync, fdatasync, O_SYNC, directory fsync and the
// background sync make the volume durable — data on the disks first, then
// the metadata WAL that points at it — without holding back any writer while
// a disk or the WAL syncs.
//
// Every metadata batch is applied (visible) at once but reaches the WAL file
// only in a round (manual WAL flush). A round syncs every disk written so
// far, then, for a moment in which no batch is being applied (no I/O in it),
// checks that every batch applied so far points only at data that pass
// covered (each group of batches notes, as it is written, how many writes
// every disk had completed) and, if so, writes the WAL buffer to its file.
// The WAL sync that follows covers exactly what was written then, while
// writers go on. A batch applied during the data pass may need data the pass
// missed: the round then syncs again. Only if writers keep outrunning the
// disks for kMaxChase passes does one pass run with batches held back
// (counted in sync_rounds_gated_total).
//
// Small writes whose data rides in the WAL with their records (JournalBlob)
// do not hold a round back: batches depend only on the plain (unjournaled)
// writes. Those disks are synced by full syncs instead: the background
// sync, the hook before a memtable flush (which ends the WAL's life) and
// unmount.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "metadata/group_commit_coordinator.h"
#include "src/common/status.h"
#include "src/extent/replica_io.h"
#include "src/extent/volume.h"

namespace dynamicfs {

class VolumeSync {
 public:
  static constexpr int kMaxChase = 3;

  VolumeSync(Volume& volume, const ReplicaIo& replicas, GroupCommitCoordinator& commit);
  VolumeSync(const VolumeSync&) = delete;
  VolumeSync& operator=(const VolumeSync&) = delete;

  // Called as each group of batches is written to the store (inside the
  // commit gate): what they may point at is at most the data written so far.
  void note_commit();
  // Fdatasyncs, all at once, every disk with writes since its last sync:
  // with `all`, any write; otherwise only plain ones. Failed disks are left
  // out.
  Status sync_data_disks(bool all = true);
  // Data first, then the WAL written while the data of every applied batch
  // was durable. Not coalesced: the caller shares rounds among its callers.
  Status run_round();
  uint64_t gated_rounds() const { return m_gated_rounds.load(std::memory_order_relaxed); }

 private:
  // True when every disk's data that applied batches depend on is synced.
  bool data_covered() const;

  Volume& m_volume;
  const ReplicaIo& m_replicas;
  GroupCommitCoordinator& m_commit;
  std::array<std::atomic<uint64_t>, Volume::kMaxDisks> m_synced{};        // writes a sync covered
  std::array<std::atomic<uint64_t>, Volume::kMaxDisks> m_synced_plain{};  // plain writes it covered
  std::array<std::atomic<uint64_t>, Volume::kMaxDisks> m_frontier{};  // plain writes batches need
  std::atomic<uint64_t> m_gated_rounds{0};
};

}  // namespace dynamicfs

// GroupCommitCoordinator: batch application and coalesced WAL syncs.
#include "metadata/group_commit_coordinator.h"

namespace dynamicfs {

Status GroupCommitCoordinator::apply(rocksdb::WriteBatch* batch) {
  if (batch->Count() == 0) return Status::ok();
  m_batches.fetch_add(1, std::memory_order_relaxed);
  m_ops.fetch_add(static_cast<uint64_t>(batch->Count()), std::memory_order_relaxed);
  return m_store->write(batch, /*sync=*/false);
}

Status GroupCommitCoordinator::make_durable() {
  return m_wal_sync.sync([this] { return m_store->sync_wal(); });
}

GroupCommitStats GroupCommitCoordinator::stats() const {
  GroupCommitStats s;
  s.batches = m_batches.load(std::memory_order_relaxed);
  s.ops = m_ops.load(std::memory_order_relaxed);
  s.sync_requests = m_wal_sync.requests();
  s.syncs = m_wal_sync.syncs();
  return s;
}

}  // namespace dynamicfs

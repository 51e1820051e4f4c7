// GroupCommitCoordinator: the only path by which filesystem operations change
// metadata. Each operation applies its one WriteBatch (RocksDB's write thread
// already merges concurrent writers into one WAL append); durability is
// grouped: every fsync/fdatasync/O_SYNC/directory-fsync asks for a WAL sync,
// and all requests that arrive together share one sync. Callers never hold a
// lock while waiting for durability.
//
// This is the foundation version; the full coordinator (merging batches
// outside the writers' locks, max batch ops / max delay settings) follows in
// the "Concurrency core" issue.
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>

#include "metadata/meta_store.h"
#include "src/common/coalesced_sync.h"

namespace dynamicfs {

struct GroupCommitStats {
  uint64_t batches = 0;        // metadata batches applied
  uint64_t ops = 0;            // mutations in those batches
  uint64_t sync_requests = 0;  // callers that needed durability
  uint64_t syncs = 0;          // WAL syncs actually performed (group commits)
};

class GroupCommitCoordinator {
 public:
  explicit GroupCommitCoordinator(MetaStore* store) : m_store(store) {}

  // Applies one operation's batch; visible to every later reader on return.
  Status apply(rocksdb::WriteBatch* batch);
  // Returns once everything applied before the call is durable in the WAL.
  Status make_durable();

  GroupCommitStats stats() const;

 private:
  MetaStore* m_store;
  CoalescedSync m_wal_sync;
  std::atomic<uint64_t> m_batches{0};
  std::atomic<uint64_t> m_ops{0};
};

}  // namespace dynamicfs

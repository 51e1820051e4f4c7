// GroupCommitCoordinator: the only path by which filesystem operations change
// metadata, and the only place the metadata WAL is synced.
//
// Two lanes:
//  * apply(): each operation hands in its one WriteBatch while holding its
//    inode locks. Concurrent batches are merged by a leader into one RocksDB
//    write (no WAL sync), so the change is visible to the next lock holder
//    when apply() returns. Waiting here never includes a WAL sync.
//  * make_durable(): fsync, fdatasync, O_SYNC and directory fsync call it with
//    no lock held, after the data they depend on is durable. All callers that
//    arrive together share one WAL sync (the group commit); max_delay lets the
//    leader gather more of them first.
//  * write_wal_if() + sync_written(): the same in two steps for an owner
//    whose batches point at data that may not be durable yet. The WAL
//    buffer reaches its file only while no batch is being written and only
//    if the owner says all data applied so far is durable (a check, no I/O);
//    the slow WAL sync then runs with nothing held back.
// With group commit disabled (benchmarks), every durable request syncs alone.
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <shared_mutex>

#include "metadata/meta_store.h"
#include "src/common/coalesced_sync.h"
#include "src/common/histogram.h"

namespace dynamicfs {

struct GroupCommitSettings {
  bool enabled = true;
  size_t max_batch_ops = 4096;  // mutations merged into one RocksDB write
  uint32_t max_delay_us = 0;    // how long a sync leader waits for company
};

struct GroupCommitStats {
  uint64_t writes = 0;         // RocksDB writes of merged batches
  uint64_t batches = 0;        // operation batches applied
  uint64_t ops = 0;            // mutations in those batches
  uint64_t sync_requests = 0;  // callers that needed durability
  uint64_t syncs = 0;          // WAL syncs performed: group_commits_total
  uint64_t sync_ns = 0;        // total time spent in WAL syncs
  uint64_t write_ns = 0;       // total time spent in merged writes
};

class GroupCommitCoordinator {
 public:
  explicit GroupCommitCoordinator(MetaStore* store, GroupCommitSettings settings = {});

  Status apply(rocksdb::WriteBatch* batch);
  Status make_durable();
  // Holds back apply() for a moment: if ready() is true, writes the WAL
  // buffer to its file and sets *seq to the sequence that covers; sets
  // *written to whether it did.
  Status write_wal_if(const std::function<bool()>& ready, bool* written, uint64_t* seq);
  // Syncs what write_wal_if() wrote, with nothing held back; durable_sequence()
  // becomes at least seq.
  Status sync_written(uint64_t seq);
  // Holds back every apply() while alive: a sync round takes it to sync the
  // data written since its first data pass and then the WAL, so no batch
  // whose data is still unsynced can slip into that WAL flush.
  std::unique_lock<std::shared_mutex> pause_commits() { return std::unique_lock(m_gate); }

  void set_settings(const GroupCommitSettings& s);
  GroupCommitSettings settings() const;
  GroupCommitStats stats() const;
  // group_commit_latency_seconds: one merged RocksDB write.
  const Histogram& write_latency() const { return m_write_latency; }
  // wal_sync_latency_seconds: one WAL sync shared by a group of fsyncs.
  const Histogram& sync_latency() const { return m_sync_latency; }
  // Runs in the leader for each batch of a group once it is written, in
  // commit order, before its writer is woken (write-through caches).
  void set_after_write(std::function<void(const rocksdb::WriteBatch&)> hook) {
    m_after_write = std::move(hook);
  }
  // Runs in the leader just before it writes a group, inside the gate that
  // write_wal_if() holds exclusively (the owner notes what the group may
  // depend on: everything done before its batches were applied).
  void set_before_write(std::function<void()> hook) { m_before_write = std::move(hook); }
  // Test hook: runs in the sync leader just before each WAL sync. May be
  // set while syncs run (the background sync does not stop for a test).
  void set_before_sync_hook(std::function<void()> hook) {
    std::lock_guard lk(m_mutex);
    m_before_sync = std::move(hook);
  }
  // RocksDB sequence number up to which the WAL is known durable.
  uint64_t durable_sequence() const { return m_durable_seq.load(); }

 private:
  // One waiting apply(). Each sleeps on its own condition variable so that a
  // finished group wakes its own writers and one next leader, nobody else.
  struct Writer {
    explicit Writer(rocksdb::WriteBatch* b) : batch(b) {}
    rocksdb::WriteBatch* batch;
    bool done = false;
    Status result;
    std::condition_variable cv;
  };
  // Writes `group` (taken from the queue's head by the leader) as one batch.
  Status write_group(const std::vector<Writer*>& group, size_t ops);
  Status sync_wal_now(bool skip_if_clean);
  // Runs `sync` as one WAL sync (hook, latency); durable_sequence() becomes
  // at least `target` if it succeeds.
  Status timed_sync(uint64_t target, const std::function<Status()>& sync);

  MetaStore* m_store;
  std::shared_mutex m_gate;  // apply() shared, pause_commits() exclusive
  mutable std::mutex m_mutex;
  std::deque<Writer*> m_queue;  // batches waiting for a leader, in order
  bool m_leader = false;        // a group is being written
  GroupCommitSettings m_settings;

  CoalescedSync m_wal_sync;
  std::function<void()> m_before_sync;
  std::function<void()> m_before_write;
  std::function<void(const rocksdb::WriteBatch&)> m_after_write;
  std::atomic<uint64_t> m_durable_seq{0};
  std::atomic<uint64_t> m_batches{0}, m_ops{0}, m_sync_requests{0};
  Histogram m_write_latency;  // also the count and time of merged writes
  Histogram m_sync_latency;   // also the count and time of WAL syncs
};

}  // namespace dynamicfs

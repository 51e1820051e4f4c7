// GroupCommitCoordinator: leader/follower merging of batches, and coalesced
// WAL syncs.
#include "metadata/group_commit_coordinator.h"

#include <chrono>
#include <vector>

#include "src/common/crash_point.h"

namespace dynamicfs {

namespace {
uint64_t elapsed_ns(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
}
}  // namespace

GroupCommitCoordinator::GroupCommitCoordinator(MetaStore* store, GroupCommitSettings settings)
    : m_store(store), m_settings(settings) {}

void GroupCommitCoordinator::set_settings(const GroupCommitSettings& s) {
  std::lock_guard lk(m_mutex);
  m_settings = s;
  if (m_settings.max_batch_ops == 0) m_settings.max_batch_ops = 1;
}

GroupCommitSettings GroupCommitCoordinator::settings() const {
  std::lock_guard lk(m_mutex);
  return m_settings;
}

Status GroupCommitCoordinator::apply(rocksdb::WriteBatch* batch) {
  if (batch->Count() == 0) return Status::ok();
  Writer me(batch);
  std::unique_lock lk(m_mutex);
  m_queue.push_back(&me);
  while (true) {
    // Done when a leader wrote this batch; else lead as soon as nobody does.
    // Any thread may lead, not only the queue's head: a thread already on a
    // CPU must not wait for a woken one to be scheduled (on a busy machine
    // that hand-off alone stalled writers for seconds).
    me.cv.wait(lk, [&] { return me.done || !m_leader; });
    if (me.done) return me.result;
    m_leader = true;
    std::vector<Writer*> group;  // the queue's head in order, up to max_batch_ops
    size_t ops = 0;
    while (!m_queue.empty()) {
      auto count = static_cast<size_t>(m_queue.front()->batch->Count());
      if (!group.empty() && ops + count > m_settings.max_batch_ops) break;
      group.push_back(m_queue.front());
      m_queue.pop_front();
      ops += count;
    }
    lk.unlock();
    Status st = write_group(group, ops);
    lk.lock();
    for (Writer* w : group) {
      w->result = st;
      w->done = true;
      if (w != &me) w->cv.notify_one();  // under the mutex: a Writer lives on its waiter's stack
    }
    m_leader = false;
    if (!m_queue.empty()) m_queue.front()->cv.notify_one();  // the next leader, unless one came
  }
}

Status GroupCommitCoordinator::write_group(const std::vector<Writer*>& group, size_t ops) {
  auto start = std::chrono::steady_clock::now();
  Status st;
  std::shared_lock gate(m_gate);  // not while a sync round flushes the WAL
  // Inside the gate: a sync round that holds it sees every batch already
  // written, and no batch noted that it has not seen written.
  if (m_before_write) m_before_write();
  crash_point("group_commit.before_write");
  if (group.size() == 1) {
    st = m_store->write(group[0]->batch, /*sync=*/false);
  } else {
    rocksdb::WriteBatch merged;
    for (Writer* w : group) {
      st = m_store->append(&merged, *w->batch);
      if (!st.is_ok()) break;
    }
    if (st.is_ok()) st = m_store->write(&merged, /*sync=*/false);
  }
  gate.unlock();
  if (st.is_ok()) crash_point("group_commit.after_write");
  if (st.is_ok() && m_after_write) {
    for (Writer* w : group) m_after_write(*w->batch);
  }
  m_write_latency.observe_ns(elapsed_ns(start));
  m_batches.fetch_add(group.size());
  m_ops.fetch_add(ops);
  return st;
}

Status GroupCommitCoordinator::sync_wal_now(bool skip_if_clean) {
  uint64_t target = m_store->db()->GetLatestSequenceNumber();
  if (skip_if_clean && target <= m_durable_seq.load())
    return Status::ok();  // nothing new since the last sync
  return timed_sync(target, [this] { return m_store->sync_wal(); });
}

Status GroupCommitCoordinator::timed_sync(uint64_t target, const std::function<Status()>& sync) {
  std::function<void()> hook;
  {
    std::lock_guard lk(m_mutex);
    hook = m_before_sync;
  }
  if (hook) hook();
  auto start = std::chrono::steady_clock::now();
  Status st = sync();
  m_sync_latency.observe_ns(elapsed_ns(start));
  if (st.is_ok()) {
    uint64_t prev = m_durable_seq.load();
    while (prev < target && !m_durable_seq.compare_exchange_weak(prev, target)) {
    }
  }
  return st;
}

Status GroupCommitCoordinator::write_wal_if(const std::function<bool()>& ready, bool* written,
                                            uint64_t* seq) {
  *written = false;
  std::unique_lock gate(m_gate);  // no merged write in progress
  if (!ready()) return Status::ok();
  *seq = m_store->db()->GetLatestSequenceNumber();
  DFS_RETURN_IF_ERROR(m_store->write_wal());
  *written = true;
  return Status::ok();
}

Status GroupCommitCoordinator::sync_written(uint64_t seq) {
  m_sync_requests.fetch_add(1);
  if (seq <= m_durable_seq.load()) return Status::ok();  // nothing new since the last sync
  return timed_sync(seq, [this] { return m_store->sync_written_wal(); });
}

Status GroupCommitCoordinator::make_durable() {
  m_sync_requests.fetch_add(1);
  GroupCommitSettings s = settings();
  if (!s.enabled) return sync_wal_now(/*skip_if_clean=*/false);
  return m_wal_sync.sync([this] { return sync_wal_now(/*skip_if_clean=*/true); },
                         std::chrono::microseconds(s.max_delay_us));
}

GroupCommitStats GroupCommitCoordinator::stats() const {
  GroupCommitStats s;
  // Counts and total times come from the latency histograms.
  s.writes = m_write_latency.count();
  s.batches = m_batches.load();
  s.ops = m_ops.load();
  s.sync_requests = m_sync_requests.load();
  s.syncs = m_sync_latency.count();
  s.sync_ns = m_sync_latency.sum_ns();
  s.write_ns = m_write_latency.sum_ns();
  return s;
}

}  // namespace dynamicfs

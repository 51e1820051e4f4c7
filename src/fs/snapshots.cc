// Snapshots: create, delete and list (see snapshots.h).
#include "src/fs/snapshots.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "metadata/key_codec.h"
#include "src/common/crash_point.h"
#include "src/extent/snapshot_catalog.h"
#include "src/extent/space_checkpoint.h"

namespace dynamicfs {

Snapshots::Snapshots(Volume& volume, GroupCommitCoordinator& commit, SharedExtents& shared,
                     BackgroundScheduler& jobs, Hooks hooks)
    : m_volume(volume),
      m_commit(commit),
      m_shared(shared),
      m_jobs(jobs),
      m_hooks(std::move(hooks)) {}

Status Snapshots::add_refs(const Volume& volume, std::vector<DiskRange>* refs) {
  DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(volume.dir()));
  for (const auto& s : snaps) {
    DFS_ASSIGN_OR_RETURN(auto r, SnapshotCatalog::extent_refs(volume.dir(), s.name));
    refs->insert(refs->end(), r.begin(), r.end());
  }
  return Status::ok();
}

void Snapshots::start_job() {
  BackgroundScheduler::Job job;
  job.name = "snap-delete";
  job.pass = [this] { run_deletes(); };
  job.finish = [this] {
    m_delete_queue.close();
    run_deletes();
  };
  m_delete_job = m_jobs.start(std::move(job));
}

Result<SnapshotInfo> Snapshots::create(const std::string& name) {
  std::lock_guard one_at_a_time(m_mutex);
  const std::string& vol = m_volume.dir();
  DFS_ASSIGN_OR_RETURN(uint64_t id, SnapshotCatalog::next_id(vol));
  DFS_ASSIGN_OR_RETURN(std::string tmp, SnapshotCatalog::begin_create(vol, name));
  SnapshotInfo info;
  info.name = name;
  info.id = id;
  info.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::vector<DiskRange> refs;
  Status st;
  const auto start = std::chrono::steady_clock::now();
  {
    auto paused = m_commit.pause_commits();
    // The data of every committed extent is durable before a snapshot
    // points at it (the checkpoint's flush hook syncs too; this covers a
    // flush with nothing new).
    st = m_hooks.sync_data();
    if (st.is_ok()) st = m_volume.meta().checkpoint(SnapshotCatalog::meta_dir(tmp));
    if (st.is_ok()) {
      auto live = extent_space(m_volume.meta());
      if (live.is_ok()) {
        refs = std::move(live).value();
      } else {
        st = live.status();
      }
    }
    if (st.is_ok())
      for (const DiskRange& r : refs) m_shared.share(r);
  }
  const auto paused_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  if (st.is_ok()) {
    crash_point("snapshot.before_rename");  // checkpoint made, not yet in place
    st = SnapshotCatalog::finish_create(vol, tmp, info);
  }
  if (!st.is_ok()) {
    m_hooks.release_space(refs);  // the references taken above, if any
    (void)SnapshotCatalog::remove_tree(tmp);
    return Status::error(st.err(), "snapshot " + name + ": " + st.message());
  }
  spdlog::info("snapshot {} (id {}) created: {} extent copies, commits paused {} ms", name, id,
               refs.size(), paused_ms);
  return info;
}

Status Snapshots::remove(const std::string& name) {
  std::lock_guard one_at_a_time(m_mutex);
  DFS_ASSIGN_OR_RETURN(std::string gone, SnapshotCatalog::begin_delete(m_volume.dir(), name));
  spdlog::info("snapshot {} deleted; its space is released in the background", name);
  if (!m_delete_queue.push(gone)) {
    spdlog::warn("unmounting: the space of deleted snapshot {} is released at the next mount",
                 name);
    return Status::ok();
  }
  m_jobs.wake(m_delete_job);
  return Status::ok();
}

void Snapshots::run_deletes() {
  while (auto dir = m_delete_queue.take()) {        // pending until released
    crash_point("snapshot_delete.before_release");  // renamed away, space still held
    auto refs = SnapshotCatalog::extent_refs_in(SnapshotCatalog::meta_dir(*dir));
    if (refs.is_ok()) {
      m_hooks.release_space(refs.value());
      Status st = SnapshotCatalog::remove_tree(*dir);
      if (!st.is_ok()) spdlog::error("{}", st.to_string());
    } else {
      // Left in place: the next mount removes it and recounts all space.
      spdlog::error(
          "cannot release the space of deleted snapshot {}: {}; it is recounted at the "
          "next mount",
          *dir, refs.status().to_string());
    }
    m_delete_queue.done();
  }
}

Result<std::vector<SnapshotUsage>> Snapshots::list() const {
  DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(m_volume.dir()));
  std::vector<SnapshotUsage> out;
  for (auto& s : snaps) {
    SnapshotUsage u;
    DFS_ASSIGN_OR_RETURN(auto refs, SnapshotCatalog::extent_refs(m_volume.dir(), s.name));
    for (const DiskRange& r : SharedExtents::count(refs, nullptr)) u.referenced_bytes += r.length;
    // Only meaningful against this volume's counts: a read-only mount
    // counts nothing of the live volume.
    if (!m_volume.read_only()) u.unique_bytes = m_shared.held_only_by(refs);
    u.info = std::move(s);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace dynamicfs

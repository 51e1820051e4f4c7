// FileSystem snapshots: create (a metadata checkpoint taken between two
// group commits, plus one more reference on every extent it points at),
// delete (out of the namespace at once, space back in the background) and
// the space each one holds.
//
// Why this is consistent: the checkpoint and the reference scan both run
// while pause_commits() holds every apply() back, so they see the same
// state, a point of the commit order. Space is freed only by a release that
// follows the commit which unlinked it; a release after the scan finds the
// snapshot's reference and keeps the space, one before it was for a commit
// the snapshot does not contain.
#include <spdlog/spdlog.h>

#include <chrono>

#include "metadata/key_codec.h"
#include "src/common/crash_point.h"
#include "src/extent/space_checkpoint.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

Status FileSystem::add_snapshot_refs(std::vector<DiskRange>* refs) const {
  DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(m_volume->dir()));
  for (const auto& s : snaps) {
    DFS_ASSIGN_OR_RETURN(auto r, SnapshotCatalog::extent_refs(m_volume->dir(), s.name));
    refs->insert(refs->end(), r.begin(), r.end());
  }
  return Status::ok();
}

Result<SnapshotInfo> FileSystem::create_snapshot(const std::string& name) {
  DFS_RETURN_IF_ERROR(check_writable());
  std::lock_guard one_at_a_time(m_snapshot_mutex);
  const std::string& vol = m_volume->dir();
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
    auto paused = m_commit->pause_commits();
    // The data of every committed extent is durable before a snapshot
    // points at it (the checkpoint's flush hook syncs too; this covers a
    // flush with nothing new).
    st = sync_data_disks();
    if (st.is_ok()) st = m_volume->meta().checkpoint(SnapshotCatalog::meta_dir(tmp));
    if (st.is_ok()) {
      auto live = extent_space(m_volume->meta());
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
    release_space(refs);  // the references taken above, if any
    (void)SnapshotCatalog::remove_tree(tmp);
    return Status::error(st.err(), "snapshot " + name + ": " + st.message());
  }
  spdlog::info("snapshot {} (id {}) created: {} extent copies, commits paused {} ms", name, id,
               refs.size(), paused_ms);
  return info;
}

Status FileSystem::delete_snapshot(const std::string& name) {
  DFS_RETURN_IF_ERROR(check_writable());
  std::lock_guard one_at_a_time(m_snapshot_mutex);
  DFS_ASSIGN_OR_RETURN(std::string gone, SnapshotCatalog::begin_delete(m_volume->dir(), name));
  spdlog::info("snapshot {} deleted; its space is released in the background", name);
  if (!m_delete_queue.push(gone)) {
    spdlog::warn("unmounting: the space of deleted snapshot {} is released at the next mount",
                 name);
    return Status::ok();
  }
  m_jobs.wake(m_delete_job);
  return Status::ok();
}

void FileSystem::run_snapshot_deletes() {
  while (auto dir = m_delete_queue.take()) {        // pending until released
    crash_point("snapshot_delete.before_release");  // renamed away, space still held
    auto refs = SnapshotCatalog::extent_refs_in(SnapshotCatalog::meta_dir(*dir));
    if (refs.is_ok()) {
      release_space(refs.value());
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

void FileSystem::drain_snapshot_deletes() {
  m_delete_queue.drain();
}

size_t FileSystem::snapshot_deletes_pending() const {
  return m_delete_queue.pending();
}

Result<std::vector<SnapshotUsage>> FileSystem::list_snapshots() const {
  DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(m_volume->dir()));
  std::vector<SnapshotUsage> out;
  for (auto& s : snaps) {
    SnapshotUsage u;
    DFS_ASSIGN_OR_RETURN(auto refs, SnapshotCatalog::extent_refs(m_volume->dir(), s.name));
    for (const DiskRange& r : SharedExtents::count(refs, nullptr)) u.referenced_bytes += r.length;
    // Only meaningful against this volume's counts: a read-only mount
    // counts nothing of the live volume.
    if (!m_read_only) u.unique_bytes = m_shared.held_only_by(refs);
    u.info = std::move(s);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace dynamicfs

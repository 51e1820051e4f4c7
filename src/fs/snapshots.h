// Snapshots: a live volume's named, read-only points in its history. create
// takes a metadata checkpoint between two group commits plus one more
// reference on every extent it points at; delete takes one out of the
// namespace at once and gives back the space only it held in a background
// job; list reports the space each one holds.
//
// Why this is consistent: the checkpoint and the reference scan both run
// while pause_commits() holds every apply() back, so they see the same
// state, a point of the commit order. Space is freed only by a release that
// follows the commit which unlinked it; a release after the scan finds the
// snapshot's reference and keeps the space, one before it was for a commit
// the snapshot does not contain.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "metadata/group_commit_coordinator.h"
#include "src/common/result.h"
#include "src/extent/shared_extents.h"
#include "src/extent/volume.h"
#include "src/fs/fs_types.h"
#include "src/io/background_scheduler.h"
#include "src/io/job_queue.h"

namespace dynamicfs {

class Snapshots {
 public:
  // What snapshots need of the file system around them: a sync of the
  // data disks (data is durable before a snapshot points at it), and the
  // release of space whose reference went (shared space stays).
  struct Hooks {
    std::function<Status()> sync_data;
    std::function<void(const std::vector<DiskRange>&)> release_space;
  };

  Snapshots(Volume& volume, GroupCommitCoordinator& commit, SharedExtents& shared,
            BackgroundScheduler& jobs, Hooks hooks);

  // At mount: the disk space every snapshot's extents reference.
  static Status add_refs(const Volume& volume, std::vector<DiskRange>* refs);
  // Starts the job that releases deleted snapshots' space (a writable
  // mount); at unmount it finishes what is queued.
  void start_job();

  Result<SnapshotInfo> create(const std::string& name);
  // EBUSY while the snapshot is mounted or seeded.
  Status remove(const std::string& name);
  Result<std::vector<SnapshotUsage>> list() const;
  // Waits until deleted snapshots' space has been released.
  void drain_deletes() { m_delete_queue.drain(); }
  size_t deletes_pending() const { return m_delete_queue.pending(); }

 private:
  void run_deletes();

  Volume& m_volume;
  GroupCommitCoordinator& m_commit;
  SharedExtents& m_shared;
  BackgroundScheduler& m_jobs;
  const Hooks m_hooks;
  std::mutex m_mutex;  // one create or delete at a time
  // .deleting-NAME dirs whose space is not yet back.
  JobQueue<std::string> m_delete_queue;
  BackgroundScheduler::JobId m_delete_job = BackgroundScheduler::kNoJob;
};

}  // namespace dynamicfs

// The plain values FileSystem's callers hand in and get back: who is
// calling, what setattr changes, directory entries, statistics and the
// mount's options. Kept apart from file_system.h so that code which only
// passes these values around (fuse/, src/cli, tests) reads them in one page.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "metadata/group_commit_coordinator.h"
#include "src/common/clock.h"
#include "src/common/status.h"
#include "src/extent/allocator.h"
#include "src/extent/extent_lock_manager.h"
#include "src/extent/snapshot_catalog.h"
#include "src/fs/discarder.h"

namespace dynamicfs {

// What every changing operation checks first: EROFS on a read-only
// (snapshot) mount.
inline Status check_writable(bool read_only) {
  return read_only ? Status::error(EROFS, "read-only snapshot mount") : Status::ok();
}

struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
  uint32_t umask = 0;            // applied on create unless the directory has a default ACL
  std::vector<uint32_t> groups;  // supplementary groups, if known
  bool in_group(uint32_t g) const;
  // in_group_or_capable(): whether a mode change by this caller may keep
  // the setgid bit of an inode of group G (root stands for CAP_FSETID).
  bool may_keep_setgid(uint32_t g) const { return uid == 0 || in_group(g); }
};

struct SetAttr {
  enum : uint32_t {
    kMode = 1,
    kUid = 2,
    kGid = 4,
    kSize = 8,
    kAtime = 16,
    kMtime = 32,
    kAtimeNow = 64,
    kMtimeNow = 128,
    kCtime = 256
  };
  uint32_t valid = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t size = 0;
  Timestamp atime, mtime, ctime;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IFMT bits
};

struct FsStats {
  uint64_t inodes = 0;
  std::vector<DiskSpace> disks;
  GroupCommitStats commit;
  LockStats locks;
  uint64_t checksum_errors = 0;
  uint64_t repairs = 0;            // bad blocks rewritten from another copy (replicas > 1)
  uint64_t unrepaired = 0;         // bad blocks with no good copy left
  uint64_t rebuilt = 0;            // stripe blocks rebuilt from the other units
  uint64_t fsync_requests = 0;     // fsync, fdatasync, O_SYNC writes, directory fsync
  uint64_t sync_rounds = 0;        // data + WAL sync rounds that served them
  uint64_t sync_rounds_gated = 0;  // rounds that had to hold writers back
  uint64_t bytes_read = 0, bytes_written = 0;
  uint64_t reserved = 0;  // pool bytes kept free for fallocate reservations
  DiscardStats discard;
};

// A running (or the last) rebalance: disk add re-replicating, disk remove
// draining.
struct RebalanceStatus {
  bool running = false;
  std::string task;  // e.g. "removing disk 2"
  uint64_t bytes_total = 0, bytes_done = 0;
  uint64_t extents_moved = 0;
  std::string result;  // of the last one: "ok" or the error
};

// A snapshot with its space: referenced is every byte of disk space its
// extents point at (all copies, shared space once); unique is what only it
// holds, i.e. what deleting it alone gives back.
struct SnapshotUsage {
  SnapshotInfo info;
  uint64_t referenced_bytes = 0;
  uint64_t unique_bytes = 0;
};

// Hot/cold tiering between the ssd and hdd disk classes (tiering.cc).
struct TierSettings {
  bool enabled = true;         // only acts when both classes have writable disks
  unsigned high_water = 80;    // % of the ssd class used above which cold data moves off
  unsigned low_water = 70;     // ... until this; below it, hot data moves on
  unsigned hot_seconds = 300;  // a file read within this long is hot
  unsigned interval_ms = 2000;
};

struct TierClassUse {
  uint32_t disks = 0;  // writable disks of the class
  uint64_t capacity = 0, used = 0;
};

struct TierStats {
  bool active = false;  // enabled, with writable disks in both classes
  TierClassUse ssd, hdd;
  uint64_t demoted_bytes = 0, promoted_bytes = 0;  // moved since mount
  uint64_t demoted_extents = 0, promoted_extents = 0;
  uint64_t passes = 0;
};

// What `policy set` touched.
struct PolicyChange {
  uint64_t dirs = 0, files = 0;
};

// The background conversion of existing files to their data policy.
struct ConvertStats {
  uint64_t pending_files = 0;       // queued or being converted
  uint64_t extents = 0, bytes = 0;  // rewritten since mount
};

// How reads and directory listings update access times: the mount options
// noatime, relatime (the default), strictatime and nodiratime.
struct AtimePolicy {
  enum class Mode : uint8_t { kRelatime, kStrictatime, kNoatime };
  Mode mode = Mode::kRelatime;
  bool dir_atime = true;  // false: nodiratime
};

struct FsOptions {
  GroupCommitSettings commit;        // group commit of metadata (and disk syncs)
  unsigned io_workers = 0;           // per-disk I/O workers; 0 = from the device type
  unsigned sync_interval_ms = 1000;  // background sync that recycles freed space
  bool discard = true;               // discard freed space on the devices
  // Writes of up to this many bytes carry their data in the metadata WAL
  // (JournalBlob), so their fsync syncs the WAL only; 0 = off.
  uint32_t journal_max_bytes = 64 * 1024;
  uint64_t extent_cache_bytes = 128ull << 20;  // hot extent data kept in memory; 0 = off
  TierSettings tiering;
  AtimePolicy atime;
};

}  // namespace dynamicfs

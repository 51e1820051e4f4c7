// SnapshotCatalog: where a volume's snapshots live and how they are named,
// listed, held and read. A snapshot is a directory VOLUME/snapshots/NAME
// holding a RocksDB checkpoint of the metadata (meta/) and snapshot.json
// (its id and creation time). Its data is the live volume's extents, shared
// by reference count (see FileSystem::create_snapshot); this class only
// knows the files. A snapshot appears by one rename of a finished
// .tmp-NAME directory and goes by a rename to .deleting-NAME, so a crash
// leaves either the whole snapshot or none of it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/extent/allocator.h"

namespace dynamicfs {

struct SnapshotInfo {
  std::string name;
  uint64_t id = 0;         // increasing in creation order
  int64_t created_ns = 0;  // CLOCK_REALTIME
};

// Keeps a snapshot from being deleted while it is mounted or seeded (a
// shared flock on its snapshot.json; delete takes it exclusively).
class SnapshotHold {
 public:
  explicit SnapshotHold(int fd) : m_fd(fd) {}
  ~SnapshotHold();
  SnapshotHold(const SnapshotHold&) = delete;
  SnapshotHold& operator=(const SnapshotHold&) = delete;

 private:
  int m_fd;
};

class SnapshotCatalog {
 public:
  static std::string root(const std::string& volume_dir) { return volume_dir + "/snapshots"; }
  static std::string dir(const std::string& volume_dir, const std::string& name) {
    return root(volume_dir) + "/" + name;
  }
  static std::string meta_dir(const std::string& snapshot_dir) { return snapshot_dir + "/meta"; }
  static std::string meta_dir(const std::string& volume_dir, const std::string& name) {
    return meta_dir(dir(volume_dir, name));
  }

  // 1 to 64 of [A-Za-z0-9._-], not starting with '.'; EINVAL otherwise.
  static Status check_name(const std::string& name);
  // Every snapshot, oldest first.
  static Result<std::vector<SnapshotInfo>> list(const std::string& volume_dir);
  // ENOENT naming the snapshot if there is none.
  static Result<SnapshotInfo> find(const std::string& volume_dir, const std::string& name);

  // Creation, step 1: an empty VOLUME/snapshots/.tmp-NAME (EEXIST if NAME is
  // taken). The caller writes the checkpoint into meta_dir() of it.
  static Result<std::string> begin_create(const std::string& volume_dir, const std::string& name);
  // Step 2: writes snapshot.json, syncs, and renames it into place.
  static Status finish_create(const std::string& volume_dir, const std::string& tmp_dir,
                              const SnapshotInfo& info);
  // Deletion, step 1: renames NAME to .deleting-NAME (EBUSY while held);
  // returns the new directory, whose extents the caller then releases
  // before remove_tree().
  static Result<std::string> begin_delete(const std::string& volume_dir, const std::string& name);
  static Status remove_tree(const std::string& dir);
  // Removes what a crash left half made or half deleted; *found says
  // whether there was any (the space accounting then cannot be trusted).
  static Status clean_partial(const std::string& volume_dir, bool* found);

  static Result<std::unique_ptr<SnapshotHold>> hold(const std::string& volume_dir,
                                                    const std::string& name);
  // The disk space every extent (every copy) of snapshot NAME references;
  // extent_refs_in: of the checkpoint in META_DIR (a snapshot being deleted).
  static Result<std::vector<DiskRange>> extent_refs(const std::string& volume_dir,
                                                    const std::string& name);
  static Result<std::vector<DiskRange>> extent_refs_in(const std::string& meta_dir);
  // The next unused snapshot id.
  static Result<uint64_t> next_id(const std::string& volume_dir);
};

}  // namespace dynamicfs

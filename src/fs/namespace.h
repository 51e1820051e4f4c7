// Namespace: the POSIX tree of a volume — lookup, create, link, unlink,
// rename, directories, attributes other than the size, extended attributes
// and POSIX ACLs, access times, and the lifetime of inodes (a file unlinked
// while open lives on as an orphan until its last close or the next mount).
// No file data passes through here: a deleted file's extents are dropped
// from the metadata and their space handed to the release callback.
//
// Each operation takes every lock it needs in one guard (parents and
// children together, shard-ordered), re-validates what it read before
// locking, and applies exactly one WriteBatch.
#pragma once

#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metadata/group_commit_coordinator.h"
#include "metadata/inode_record.h"
#include "src/common/result.h"
#include "src/extent/extent_lock_manager.h"
#include "src/extent/volume.h"
#include "src/fs/fs_types.h"
#include "src/fs/inode_store.h"
#include "src/fs/open_file_table.h"
#include "src/fs/posix_acl.h"
#include "src/fs/reservations.h"
#include "src/fs/tiering.h"

namespace dynamicfs {

class Namespace {
 public:
  static constexpr size_t kNameMax = 255;
  static constexpr uint32_t kLinkMax = 65000;
  // Space whose last reference a commit removed (FileData::release_space).
  using ReleaseSpace = std::function<void(const std::vector<DiskRange>&)>;

  Namespace(Volume& volume, InodeStore& inodes, GroupCommitCoordinator& commit,
            ExtentLockManager& locks, OpenFileTable& open, Reservations& reservations,
            Tiering& tiering, ReleaseSpace release_space);

  Result<InodeRecord> lookup(uint64_t parent, std::string_view name);
  Result<InodeRecord> getattr(uint64_t ino) { return m_inodes.load(ino); }
  // Everything SetAttr may change but the size (the file data's part).
  Result<InodeRecord> setattr(uint64_t ino, const SetAttr& attr, const Caller& caller);
  Result<InodeRecord> mknod(uint64_t parent, std::string_view name, uint32_t mode, uint64_t rdev,
                            const Caller& c);
  Result<InodeRecord> mkdir(uint64_t parent, std::string_view name, uint32_t mode, const Caller& c);
  Result<InodeRecord> symlink(uint64_t parent, std::string_view name, std::string_view target,
                              const Caller& c);
  Result<std::string> readlink(uint64_t ino);
  Result<InodeRecord> link(uint64_t ino, uint64_t new_parent, std::string_view new_name);
  Status unlink(uint64_t parent, std::string_view name);
  Status rmdir(uint64_t parent, std::string_view name);
  Status rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags);
  Result<std::vector<DirEntry>> list_dir(uint64_t ino);
  Status access(uint64_t ino, int mask, const Caller& caller);

  // Handles. open_dir: ENOTDIR unless INO is a directory. close: the last
  // close of an unlinked inode deletes it.
  void open_file(uint64_t ino) { m_open.open(ino); }
  Status open_dir(uint64_t ino);
  Status close(uint64_t ino);
  // At mount: deletes the inodes a crash left unlinked while open; returns
  // how many.
  Result<size_t> remove_orphans();

  // Extended attributes. CALLER matters for ACL names only: an ACL that
  // changes the mode drops setgid for a caller outside the file's group
  // (posix_acl_update_mode()).
  Status setxattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                  const Caller& caller);
  Result<std::string> getxattr(uint64_t ino, std::string_view name);
  Result<std::vector<std::string>> listxattr(uint64_t ino);
  Status removexattr(uint64_t ino, std::string_view name);

  // Access times (live: mount -o remount changes them). A mount remounted
  // read-only updates no access time; the kernel refuses everything else.
  void set_atime_policy(AtimePolicy p);
  AtimePolicy atime_policy() const;
  void set_mount_read_only(bool ro) { m_mount_ro.store(ro, std::memory_order_relaxed); }
  bool mount_read_only() const { return m_mount_ro.load(std::memory_order_relaxed); }
  // Whether a read of REC now would update its access time under the policy
  // (relatime: atime not newer than mtime or ctime, or a day old).
  bool atime_due(const InodeRecord& rec) const;
  // The update a read makes when atime_due said so (its own commit).
  void update_atime(uint64_t ino);

  static Status check_name(std::string_view name);

 private:
  Result<InodeRecord> lookup_dots(uint64_t ino, std::string_view name);
  Result<InodeRecord> create_node(uint64_t parent, std::string_view name, uint32_t mode,
                                  uint64_t rdev, std::string_view symlink_target, const Caller& c);
  // Drops one link of VICTIM; deletes it (or makes it an orphan while open).
  Status drop_link(rocksdb::WriteBatch* b, InodeRecord* victim, std::vector<DiskRange>* freed);
  // Deletes INO's extents, xattrs, reservation and record in B; FREED gets
  // the extents' space.
  Status delete_inode(rocksdb::WriteBatch* b, uint64_t ino, std::vector<DiskRange>* freed);
  // unlink (want_dir = false) and rmdir (true).
  Status remove_entry(uint64_t parent, std::string_view name, bool want_dir);
  Status is_ancestor(uint64_t maybe_ancestor, uint64_t ino, bool* result) const;
  Status exchange_entries(uint64_t parent, std::string_view name, uint64_t src, uint64_t new_parent,
                          std::string_view new_name, uint64_t dst);
  // POSIX ACLs (namespace_xattrs.cc). The ACL NAME of INO, if any.
  Result<std::optional<PosixAcl>> load_acl(uint64_t ino, const char* name) const;
  // A new node's mode and ACLs from its directory (default ACL or umask).
  Status inherit_acls(rocksdb::WriteBatch* b, uint64_t parent, InodeRecord* rec, const Caller& c);
  // setxattr of an ACL name: validates it and keeps the mode in step.
  Status set_acl(rocksdb::WriteBatch* b, InodeRecord* rec, const Caller& caller,
                 std::string_view name, std::string_view value);

  Volume& m_volume;
  InodeStore& m_inodes;
  GroupCommitCoordinator& m_commit;
  ExtentLockManager& m_locks;
  OpenFileTable& m_open;
  Reservations& m_reservations;
  Tiering& m_tiering;
  const ReleaseSpace m_release_space;
  const bool m_read_only;
  std::atomic<bool> m_mount_ro{false};
  std::atomic<uint8_t> m_atime_mode{0};
  std::atomic<bool> m_dir_atime{true};
};

}  // namespace dynamicfs

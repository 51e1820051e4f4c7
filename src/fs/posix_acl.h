// PosixAcl: a POSIX access or default ACL in the Linux xattr form
// (system.posix_acl_access / system.posix_acl_default). With FUSE's
// POSIX_ACL capability the kernel enforces ACLs itself, but the filesystem
// keeps the mode and the ACL in step (setfacl changes the mode, chmod changes
// the ACL) and derives a new node's ACL from its directory's default ACL.
// This class holds those rules, as the kernel's posix_acl.c states them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

class PosixAcl {
 public:
  static constexpr const char* kAccessName = "system.posix_acl_access";
  static constexpr const char* kDefaultName = "system.posix_acl_default";

  enum Tag : uint16_t {
    kUserObj = 0x01,
    kUser = 0x02,
    kGroupObj = 0x04,
    kGroup = 0x08,
    kMask = 0x10,
    kOther = 0x20,
  };
  struct Entry {
    uint16_t tag = 0;
    uint16_t perm = 0;  // rwx in the low 3 bits
    uint32_t id = 0;    // uid or gid for kUser / kGroup
    bool operator==(const Entry&) const = default;
  };

  // Parses and validates the xattr value: version 2, entries sorted by tag
  // then id, one of each base entry, a mask whenever named entries exist.
  // An empty entry list (header only) is valid and means "no ACL".
  static Result<PosixAcl> parse(std::string_view value);
  std::string encode() const;

  const std::vector<Entry>& entries() const { return m_entries; }
  bool empty() const { return m_entries.empty(); }
  // Only the three base entries: the mode says everything.
  bool equivalent_to_mode() const;
  // Permission bits of the mode the ACL implies (owner, mask or group, other).
  uint32_t mode_bits() const;
  // chmod: the owner, mask (or group) and other entries follow the new mode.
  void apply_chmod(uint32_t mode);
  // A new node in a directory with this default ACL: the ACL the node gets,
  // and the node's mode masked by it (`*mode` holds the requested mode).
  PosixAcl inherit(uint32_t* mode) const;

 private:
  std::vector<Entry> m_entries;
};

}  // namespace dynamicfs

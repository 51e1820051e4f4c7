// PosixAcl: xattr decoding and the mode/ACL rules (equivalence, chmod,
// inheritance with create-time masking).
#include "src/fs/posix_acl.h"

#include <sys/stat.h>

#include "src/common/coding.h"

namespace dynamicfs {

namespace {
constexpr uint32_t kXattrVersion = 2;
constexpr size_t kHeader = 4, kEntrySize = 8;
constexpr uint16_t kRwx = 07;
}  // namespace

Result<PosixAcl> PosixAcl::parse(std::string_view value) {
  if (value.size() < kHeader || (value.size() - kHeader) % kEntrySize != 0)
    return Status::error(EINVAL, "malformed ACL");
  if (get_le<uint32_t>(value.data()) != kXattrVersion)
    return Status::error(EOPNOTSUPP, "unsupported ACL version");
  PosixAcl acl;
  for (size_t off = kHeader; off < value.size(); off += kEntrySize) {
    Entry e;
    e.tag = get_le<uint16_t>(value.data() + off);
    e.perm = get_le<uint16_t>(value.data() + off + 2);
    e.id = get_le<uint32_t>(value.data() + off + 4);
    if (e.perm & ~kRwx) return Status::error(EINVAL, "ACL permission out of range");
    acl.m_entries.push_back(e);
  }
  if (acl.m_entries.empty()) return acl;
  // The order and counts posix_acl_valid() demands.
  int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : acl.m_entries) {
    if (prev != nullptr && (e.tag < prev->tag || (e.tag == prev->tag && e.id <= prev->id)))
      return Status::error(EINVAL, "ACL entries out of order or repeated");
    switch (e.tag) {
      case kUserObj:
        ++user_obj;
        break;
      case kGroupObj:
        ++group_obj;
        break;
      case kOther:
        ++other;
        break;
      case kMask:
        ++mask;
        break;
      case kUser:
      case kGroup:
        ++named;
        break;
      default:
        return Status::error(EINVAL, "unknown ACL entry tag");
    }
    prev = &e;
  }
  if (user_obj != 1 || group_obj != 1 || other != 1 || mask > 1 || (named > 0 && mask == 0))
    return Status::error(EINVAL, "ACL lacks a required entry");
  return acl;
}

std::string PosixAcl::encode() const {
  std::string out;
  put_le<uint32_t>(&out, kXattrVersion);
  for (const Entry& e : m_entries) {
    put_le<uint16_t>(&out, e.tag);
    put_le<uint16_t>(&out, e.perm);
    put_le<uint32_t>(&out, (e.tag == kUser || e.tag == kGroup) ? e.id : UINT32_MAX);
  }
  return out;
}

bool PosixAcl::equivalent_to_mode() const {
  for (const Entry& e : m_entries)
    if (e.tag == kUser || e.tag == kGroup || e.tag == kMask) return false;
  return true;
}

uint32_t PosixAcl::mode_bits() const {
  uint32_t mode = 0;
  for (const Entry& e : m_entries) {
    switch (e.tag) {
      case kUserObj:
        mode |= static_cast<uint32_t>(e.perm & kRwx) << 6;
        break;
      case kGroupObj:
        mode |= static_cast<uint32_t>(e.perm & kRwx) << 3;
        break;
      case kMask:  // sorted after the group entry: the mask wins
        mode =
            (mode & ~static_cast<uint32_t>(S_IRWXG)) | (static_cast<uint32_t>(e.perm & kRwx) << 3);
        break;
      case kOther:
        mode |= e.perm & kRwx;
        break;
      default:
        break;
    }
  }
  return mode;
}

void PosixAcl::apply_chmod(uint32_t mode) {
  Entry* group_obj = nullptr;
  Entry* mask = nullptr;
  for (Entry& e : m_entries) {
    if (e.tag == kUserObj) e.perm = static_cast<uint16_t>((mode & S_IRWXU) >> 6);
    if (e.tag == kGroupObj) group_obj = &e;
    if (e.tag == kMask) mask = &e;
    if (e.tag == kOther) e.perm = static_cast<uint16_t>(mode & S_IRWXO);
  }
  Entry* g = mask != nullptr ? mask : group_obj;
  if (g != nullptr) g->perm = static_cast<uint16_t>((mode & S_IRWXG) >> 3);
}

PosixAcl PosixAcl::inherit(uint32_t* mode_p) const {
  // posix_acl_create_masq(): the requested mode masks the inherited entries
  // and the entries mask the mode.
  PosixAcl acl = *this;
  uint32_t mode = *mode_p & 0777;
  Entry* group_obj = nullptr;
  Entry* mask = nullptr;
  for (Entry& e : acl.m_entries) {
    switch (e.tag) {
      case kUserObj:
        e.perm &= static_cast<uint16_t>((mode >> 6) & kRwx);
        mode &= (static_cast<uint32_t>(e.perm) << 6) | ~static_cast<uint32_t>(S_IRWXU);
        break;
      case kGroupObj:
        group_obj = &e;
        break;
      case kMask:
        mask = &e;
        break;
      case kOther:
        e.perm &= static_cast<uint16_t>(mode & kRwx);
        mode &= e.perm | ~static_cast<uint32_t>(S_IRWXO);
        break;
      default:
        break;
    }
  }
  Entry* g = mask != nullptr ? mask : group_obj;
  if (g != nullptr) {
    g->perm &= static_cast<uint16_t>((mode >> 3) & kRwx);
    mode &= (static_cast<uint32_t>(g->perm) << 3) | ~static_cast<uint32_t>(S_IRWXG);
  }
  *mode_p = (*mode_p & ~0777u) | (mode & 0777);
  return acl;
}

}  // namespace dynamicfs

// FileSystem extended attributes, stored in the `xattrs` column family under
// (ino, name). Names beginning with NUL are internal (symlink targets) and
// never listed; POSIX ACL names are refused until ACLs are enforced.
#include <sys/xattr.h>

#include "metadata/key_codec.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

namespace {
constexpr size_t kXattrNameMax = 255;
constexpr size_t kXattrValueMax = 65536;

Status check_xattr_name(std::string_view name) {
  if (name.empty()) return Status::error(EINVAL);
  if (name.size() > kXattrNameMax) return Status::error(ERANGE);
  if (name.starts_with("system.posix_acl_")) return Status::error(EOPNOTSUPP);
  return Status::ok();
}
}  // namespace

Status FileSystem::setxattr(uint64_t ino, std::string_view name, std::string_view value,
                            int flags) {
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  if (value.size() > kXattrValueMax) return Status::error(E2BIG);
  auto guard = m_locks.lock_exclusive({ino});
  auto rec = load_inode(ino);
  if (!rec.is_ok()) return rec.status();
  auto existing = m_volume->meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name));
  if (!existing.is_ok()) return existing.status();
  if ((flags & XATTR_CREATE) && existing->has_value()) return Status::error(EEXIST);
  if ((flags & XATTR_REPLACE) && !existing->has_value()) return Status::error(ENODATA);
  InodeRecord r = rec.value();
  r.ctime = now_timestamp();
  rocksdb::WriteBatch b;
  b.Put(m_volume->meta().handle(Cf::kXattrs), KeyCodec::xattr_key(ino, name),
        rocksdb::Slice(value.data(), value.size()));
  put_inode(&b, r);
  return m_commit->apply(&b);
}

Result<std::string> FileSystem::getxattr(uint64_t ino, std::string_view name) {
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  auto rec = load_inode(ino);
  if (!rec.is_ok()) return rec.status();
  auto v = m_volume->meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name));
  if (!v.is_ok()) return v.status();
  if (!v->has_value()) return Status::error(ENODATA);
  return std::move(**v);
}

Result<std::vector<std::string>> FileSystem::listxattr(uint64_t ino) {
  auto rec = load_inode(ino);
  if (!rec.is_ok()) return rec.status();
  std::vector<std::string> names;
  auto it = m_volume->meta().iterator(Cf::kXattrs);
  std::string prefix = KeyCodec::xattr_prefix(ino);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string name(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    if (!name.empty() && name[0] != '\0') names.push_back(std::move(name));
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "xattr scan"));
  return names;
}

Status FileSystem::removexattr(uint64_t ino, std::string_view name) {
  DFS_RETURN_IF_ERROR(check_xattr_name(name));
  auto guard = m_locks.lock_exclusive({ino});
  auto rec = load_inode(ino);
  if (!rec.is_ok()) return rec.status();
  auto existing = m_volume->meta().get(Cf::kXattrs, KeyCodec::xattr_key(ino, name));
  if (!existing.is_ok()) return existing.status();
  if (!existing->has_value()) return Status::error(ENODATA);
  InodeRecord r = rec.value();
  r.ctime = now_timestamp();
  rocksdb::WriteBatch b;
  b.Delete(m_volume->meta().handle(Cf::kXattrs), KeyCodec::xattr_key(ino, name));
  put_inode(&b, r);
  return m_commit->apply(&b);
}

}  // namespace dynamicfs

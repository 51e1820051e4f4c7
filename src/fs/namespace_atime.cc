// Namespace access times: the mount's policy (relatime, strictatime,
// noatime, nodiratime; live through `mount -o remount`) and the update a
// read or a directory listing makes when one is due.
#include <spdlog/spdlog.h>

#include "src/fs/namespace.h"

namespace dynamicfs {

void Namespace::set_atime_policy(AtimePolicy p) {
  m_atime_mode.store(static_cast<uint8_t>(p.mode), std::memory_order_relaxed);
  m_dir_atime.store(p.dir_atime, std::memory_order_relaxed);
}

AtimePolicy Namespace::atime_policy() const {
  AtimePolicy p;
  p.mode = static_cast<AtimePolicy::Mode>(m_atime_mode.load(std::memory_order_relaxed));
  p.dir_atime = m_dir_atime.load(std::memory_order_relaxed);
  return p;
}

bool Namespace::atime_due(const InodeRecord& rec) const {
  if (m_read_only || mount_read_only()) return false;
  const AtimePolicy p = atime_policy();
  if (p.mode == AtimePolicy::Mode::kNoatime || (rec.is_dir() && !p.dir_atime)) return false;
  if (p.mode == AtimePolicy::Mode::kStrictatime) return true;
  return rec.atime <= rec.mtime || rec.atime <= rec.ctime ||
         now_timestamp().sec - rec.atime.sec >= 24 * 3600;
}

void Namespace::update_atime(uint64_t ino) {
  if (m_read_only) return;
  auto guard = m_locks.lock_exclusive({ino});
  auto rec = m_inodes.load(ino);
  if (!rec.is_ok() || !atime_due(rec.value())) return;
  InodeRecord r = rec.value();
  r.atime = now_timestamp();
  rocksdb::WriteBatch b;
  m_inodes.put(&b, r);
  Status st = m_commit.apply(&b);
  if (!st.is_ok()) spdlog::warn("atime update of inode {} failed: {}", ino, st.to_string());
}

}  // namespace dynamicfs

// MountFlags: statvfs() flags in, mount(2) flags out.
#include "src/cli/mount_flags.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

#include <utility>

namespace dynamicfs {

unsigned long MountFlags::current(const std::string& mp) {
  struct statvfs sv {};
  if (::statvfs(mp.c_str(), &sv) != 0) return MS_NOSUID | MS_NODEV;
  static const std::pair<unsigned long, unsigned long> kMap[] = {
      {ST_RDONLY, MS_RDONLY},           {ST_NOSUID, MS_NOSUID},    {ST_NODEV, MS_NODEV},
      {ST_NOEXEC, MS_NOEXEC},           {ST_NOATIME, MS_NOATIME},  {ST_NODIRATIME, MS_NODIRATIME},
      {ST_SYNCHRONOUS, MS_SYNCHRONOUS}, {ST_RELATIME, MS_RELATIME}};
  unsigned long flags = 0;
  for (const auto& [st, ms] : kMap)
    if (sv.f_flag & st) flags |= ms;
  // statvfs has no bit for strictatime: it is neither noatime nor relatime.
  if ((flags & (MS_NOATIME | MS_RELATIME)) == 0) flags |= MS_STRICTATIME;
  return flags;
}

bool MountFlags::apply(const std::string& opt, unsigned long* flags) {
  static const struct {
    const char* name;
    unsigned long set;
    unsigned long clear;
  } kFlags[] = {
      {"ro", MS_RDONLY, 0},
      {"rw", 0, MS_RDONLY},
      {"nosuid", MS_NOSUID, 0},
      {"suid", 0, MS_NOSUID},
      {"nodev", MS_NODEV, 0},
      {"dev", 0, MS_NODEV},
      {"noexec", MS_NOEXEC, 0},
      {"exec", 0, MS_NOEXEC},
      {"sync", MS_SYNCHRONOUS, 0},
      {"async", 0, MS_SYNCHRONOUS},
      {"dirsync", MS_DIRSYNC, 0},
      {"noatime", MS_NOATIME, MS_RELATIME | MS_STRICTATIME},
      {"atime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME},
      {"relatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME},
      {"nostrictatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME},
      {"strictatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME},
      {"norelatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME},
      {"nodiratime", MS_NODIRATIME, 0},
      {"diratime", 0, MS_NODIRATIME},
  };
  for (const auto& f : kFlags) {
    if (opt != f.name) continue;
    *flags = (*flags & ~f.clear) | f.set;
    return true;
  }
  return false;
}

Status MountFlags::remount(const std::string& mp, unsigned long flags) {
  if (::mount(nullptr, mp.c_str(), nullptr, MS_REMOUNT | flags, nullptr) != 0)
    return Status::from_errno("remount of " + mp);
  return Status::ok();
}

}  // namespace dynamicfs

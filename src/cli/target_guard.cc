// TargetGuard: mountinfo, O_EXCL, loop devices, volume.toml and disk flocks.
#include "src/cli/target_guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "src/control/control_client.h"
#include "src/extent/volume_config.h"
#include "src/io/disk.h"

namespace dynamicfs {

namespace {

namespace fs = std::filesystem;

fs::path canonical_or_self(const std::string& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? fs::path(p) : c;
}

// The disks of the volume in DIR, as canonical paths.
std::vector<fs::path> disks_of(const std::string& dir, const VolumeConfig& cfg) {
  std::vector<fs::path> out;
  for (const auto& d : cfg.disks) {
    fs::path p = d.path;
    if (p.is_relative()) p = fs::path(dir) / p;
    out.push_back(canonical_or_self(p.string()));
  }
  return out;
}

Status check_block_device(const std::string& target, const struct stat& st) {
  std::string dev = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  for (const auto& m : ControlClient::mount_table()) {
    if (m.dev == dev)
      return Status::error(EBUSY,
                           target + " is mounted on " + m.mountpoint + "; refusing to write to it");
  }
  // The kernel refuses an exclusive open of a device that is mounted, has a
  // mounted partition, or is held by device mapper, md or another O_EXCL
  // opener.
  int fd = ::open(target.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EBUSY) {
      return Status::error(EBUSY, target +
                                      " is in use (a mounted partition, device mapper, md, or "
                                      "another program holds it); refusing to write to it");
    }
    return Status::from_errno("cannot open target " + target);
  }
  ::close(fd);
  return Status::ok();
}

// The same file or device: inode for files, device number for devices.
bool same_object(const struct stat& a, const struct stat& b) {
  if (S_ISBLK(a.st_mode) || S_ISBLK(b.st_mode))
    return S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode) && a.st_rdev == b.st_rdev;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

Status check_loop_backing(const std::string& target, const struct stat& want) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/block", ec)) {
    std::ifstream in(e.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing) || backing.empty()) continue;
    struct stat st {};
    if (::stat(backing.c_str(), &st) == 0 && same_object(st, want)) {
      return Status::error(EBUSY, target + " is the backing file of /dev/" +
                                      e.path().filename().string() +
                                      "; refusing to write to it (detach it with losetup -d)");
    }
  }
  return Status::ok();
}

}  // namespace

std::string TargetGuard::mountpoint_of(const std::string& volume_dir) {
  for (const auto& m : mounted_volumes()) {
    std::error_code ec;
    if (std::filesystem::equivalent(m.dir, volume_dir, ec)) return m.mountpoint;
  }
  return {};
}

std::vector<MountedVolume> TargetGuard::mounted_volumes() {
  std::vector<MountedVolume> out;
  for (const auto& m : ControlClient::mount_table()) {
    if (m.fstype == "fuse.dynamicfs") out.push_back({m.source, m.mountpoint});
  }
  return out;
}

std::string TargetGuard::volume_of(const std::string& disk) {
  fs::path want = canonical_or_self(disk);
  std::vector<std::string> candidates;
  for (const auto& v : mounted_volumes()) candidates.push_back(v.dir);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/var/lib/dynamicfs", ec)) {
    candidates.push_back(e.path().string());
  }
  for (const auto& dir : candidates) {
    auto cfg = VolumeConfig::load(dir);
    if (!cfg.is_ok()) continue;
    for (const auto& p : disks_of(dir, cfg.value())) {
      if (p == want) return dir;
    }
  }
  return "";
}

Status TargetGuard::check_writable(const std::string& target) {
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) return Status::from_errno("cannot stat target " + target);
  if (S_ISBLK(st.st_mode)) DFS_RETURN_IF_ERROR(check_block_device(target, st));
  DFS_RETURN_IF_ERROR(check_loop_backing(target, st));
  // A disk of a mounted dynamicfs volume here: the same file or device as
  // one its volume.toml lists (whatever the name: symlinks, hard links).
  for (const auto& v : mounted_volumes()) {
    auto cfg = VolumeConfig::load(v.dir);
    if (!cfg.is_ok()) continue;
    for (const auto& p : disks_of(v.dir, cfg.value())) {
      struct stat ds {};
      if (::stat(p.c_str(), &ds) == 0 && same_object(ds, st)) {
        return Status::error(EBUSY, target + " is a disk of the dynamicfs volume " + v.dir +
                                        " mounted on " + v.mountpoint +
                                        "; refusing to write to it (unmount the volume first)");
      }
    }
  }
  return Status::ok();
}

Result<std::unique_ptr<Disk>> TargetGuard::hold(const std::string& target) {
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(target));
  Status held = disk->hold_exclusive();
  if (held.err() == EBUSY) {
    // A dynamicfs daemon (of any mount namespace) or another fetch holds it.
    return Status::error(EBUSY, target +
                                    " is held by another process (a mounted dynamicfs volume "
                                    "or another replicate fetch); refusing to write to it");
  }
  if (!held.is_ok()) return held;
  return disk;
}

}  // namespace dynamicfs

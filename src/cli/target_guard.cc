// TargetGuard: mountinfo, O_EXCL, loop devices and dynamicfs superblocks.
#include "src/cli/target_guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/control/control_client.h"
#include "src/fs/volume_config.h"
#include "src/io/disk.h"
#include "src/io/superblock.h"

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
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string dev = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, majmin, root, mp;
    ls >> id >> parent >> majmin >> root >> mp;
    if (majmin == dev) {
      return Status::error(EBUSY, target + " is mounted on " +
                                      ControlClient::unescape_mountinfo(mp) +
                                      "; refusing to write to it");
    }
  }
  // The kernel refuses an exclusive open of a device that is mounted, has a
  // mounted partition, or is held by device mapper, md or another O_EXCL
  // opener (a running dynamicfs daemon among them).
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

Status check_loop_backing(const std::string& target) {
  fs::path want = canonical_or_self(target);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/block", ec)) {
    std::ifstream in(e.path() / "loop" / "backing_file");
    std::string backing;
    if (!std::getline(in, backing) || backing.empty()) continue;
    if (canonical_or_self(backing) == want) {
      return Status::error(EBUSY, target + " is the backing file of /dev/" +
                                      e.path().filename().string() +
                                      "; refusing to write to it (detach it with losetup -d)");
    }
  }
  return Status::ok();
}

}  // namespace

std::vector<MountedVolume> TargetGuard::mounted_volumes() {
  std::vector<MountedVolume> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, majmin, root, mp;
    head >> id >> parent >> majmin >> root >> mp;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype, source;
    rest >> fstype >> source;
    if (fstype == "fuse.dynamicfs")
      out.push_back(
          {ControlClient::unescape_mountinfo(source), ControlClient::unescape_mountinfo(mp)});
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
  if (S_ISBLK(st.st_mode)) {
    DFS_RETURN_IF_ERROR(check_block_device(target, st));
  } else {
    DFS_RETURN_IF_ERROR(check_loop_backing(target));
  }
  // A disk of a mounted dynamicfs volume: by its path in volume.toml, or by
  // the volume UUID in its superblock (another name for the same device).
  fs::path want = canonical_or_self(target);
  std::string sb_volume;
  if (auto disk = Disk::open_read_only(target); disk.is_ok()) {
    if (auto sb = Superblock::read_from(*disk.value()); sb.is_ok())
      sb_volume = uuid_to_string(sb->volume_uuid);
  }
  for (const auto& v : mounted_volumes()) {
    auto cfg = VolumeConfig::load(v.dir);
    if (!cfg.is_ok()) continue;
    bool listed = false;
    for (const auto& p : disks_of(v.dir, cfg.value())) listed = listed || p == want;
    if (listed || (!sb_volume.empty() && sb_volume == uuid_to_string(cfg->volume_uuid))) {
      return Status::error(EBUSY, target + " is a disk of the dynamicfs volume " + v.dir +
                                      " mounted on " + v.mountpoint +
                                      "; refusing to write to it (unmount the volume first)");
    }
  }
  return Status::ok();
}

}  // namespace dynamicfs

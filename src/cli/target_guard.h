// TargetGuard: the checks that keep `replicate fetch` from writing a disk that
// something else owns. A fetch refuses, before writing a byte, a target that
// is mounted (itself or a partition), held exclusively by the kernel (device
// mapper, md, another O_EXCL opener), the backing file of a loop device, a
// disk of a dynamicfs volume mounted here (the same file or device as its
// volume.toml lists, under any name), or a disk whose flock a dynamicfs
// daemon or another fetch holds (any mount namespace; `hold` takes that flock
// for the fetch itself). `image create` uses
// the same list of mounted volumes to find the volume a disk belongs to.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/io/disk.h"

namespace dynamicfs {

struct MountedVolume {
  std::string dir;         // the volume directory (the mount's fsname)
  std::string mountpoint;  // as in /proc/self/mountinfo
};

class TargetGuard {
 public:
  // Every fuse.dynamicfs mount of this mount namespace.
  static std::vector<MountedVolume> mounted_volumes();
  // Where the volume in VOLUME_DIR (under any name) is mounted; empty if
  // it is not.
  static std::string mountpoint_of(const std::string& volume_dir);
  // The volume directory (mounted volumes first, then /var/lib/dynamicfs/*)
  // whose volume.toml lists DISK; empty if none.
  static std::string volume_of(const std::string& disk);
  // OK when nothing above but a flock owns the existing TARGET; EBUSY with
  // one line saying who does otherwise.
  static Status check_writable(const std::string& target);
  // Takes TARGET's exclusive flock, held while the returned disk is open;
  // EBUSY if a mounted volume or another fetch holds it.
  static Result<std::unique_ptr<Disk>> hold(const std::string& target);
};

}  // namespace dynamicfs

// VolumeConfig: the volume.toml file of a volume directory. It names the
// volume and lists its disks by UUID and path; the superblocks on the disks
// must agree with it before a mount proceeds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/io/superblock.h"

namespace dynamicfs {

struct DiskConfig {
  uint32_t index = 0;
  Uuid uuid{};
  std::string path;
  uint64_t size = 0;       // bytes the superblock records (0: not recorded, older volumes)
  bool removed = false;    // taken out by `disk remove`; its index is not reused
  std::string disk_class;  // "ssd" or "hdd" set by `disk class`; "" = from the device
};

// The [settings] table of the TOML file PATH, values as text (booleans as
// on/off); EINVAL naming the file for one that does not parse.
Result<std::map<std::string, std::string>> read_settings_table(const std::string& path);

struct VolumeConfig {
  uint32_t format_version = Superblock::kFormatVersion;
  Uuid volume_uuid{};
  uint32_t replicas = 1;
  std::vector<DiskConfig> disks;
  // The [settings] table: daemon settings persisted by `config set --persist`
  // (names and values as `dynamicfs config` shows them).
  std::map<std::string, std::string> settings;

  static std::string file_path(const std::string& volume_dir) {
    return volume_dir + "/volume.toml";
  }
  static Result<VolumeConfig> load(const std::string& volume_dir);
  // Writes atomically (temp file + fsync + rename).
  Status save(const std::string& volume_dir) const;
};

}  // namespace dynamicfs

// HostConfig: /etc/dynamicfs/NAME.toml, the operator's file for the volume
// NAME on this machine (NAME is the volume directory's last component). It
// can say where the volume and its mountpoint are (for `dynamicfs service`
// and dynamicfs@NAME.service) and hold daemon settings, which override the
// volume's own [settings] and are overridden by `mount -o`. A missing file
// is an empty configuration. DYNAMICFS_CONFIG_DIR replaces /etc/dynamicfs
// (tests).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct HostConfig {
  std::string path;                             // the file read ("" if there was none)
  std::string volume;                           // "volume" key; default /var/lib/dynamicfs/NAME
  std::string mountpoint;                       // "mountpoint" key; "" if not given
  std::vector<std::string> options;             // "options" key: extra mount -o options
  std::map<std::string, std::string> settings;  // the [settings] table

  static std::string dir();
  static std::string name_of(const std::string& volume_dir);
  // EINVAL (with the file and the reason) for a file that does not parse.
  static Result<HostConfig> load(const std::string& name);
};

}  // namespace dynamicfs

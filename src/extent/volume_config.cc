// VolumeConfig: toml11 parsing with errors turned into one clear line.
#include "src/extent/volume_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <toml.hpp>

namespace dynamicfs {

Result<std::map<std::string, std::string>> read_settings_table(const std::string& path) {
  std::map<std::string, std::string> out;
  try {
    const auto data = toml::parse(path);
    if (!data.contains("settings")) return out;
    for (const auto& [key, value] : toml::find<toml::table>(data, "settings")) {
      if (value.is_string()) {
        out[key] = value.as_string().str;
      } else if (value.is_integer()) {
        out[key] = std::to_string(value.as_integer());
      } else if (value.is_floating()) {
        out[key] = std::to_string(value.as_floating());
      } else if (value.is_boolean()) {
        out[key] = value.as_boolean() ? "on" : "off";
      } else {
        return Status::error(EINVAL, path + ": setting " + key + " must be a string or number");
      }
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return Status::error(EINVAL, "cannot parse " + path + ": " + msg.substr(0, msg.find('\n')));
  }
  return out;
}

Result<VolumeConfig> VolumeConfig::load(const std::string& volume_dir) {
  std::string path = file_path(volume_dir);
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::from_errno(volume_dir + " is not a dynamicfs volume (cannot read " + path + ")");
  }
  VolumeConfig cfg;
  try {
    const auto data = toml::parse(path);
    cfg.format_version = toml::find<uint32_t>(data, "format_version");
    auto vu = uuid_from_string(toml::find<std::string>(data, "volume_uuid"));
    if (!vu.is_ok()) return Status::error(EINVAL, path + ": " + vu.status().message());
    cfg.volume_uuid = vu.value();
    cfg.replicas = toml::find_or<uint32_t>(data, "replicas", 1);
    for (const auto& d : toml::find<toml::array>(data, "disks")) {
      DiskConfig dc;
      dc.index = toml::find<uint32_t>(d, "index");
      auto du = uuid_from_string(toml::find<std::string>(d, "uuid"));
      if (!du.is_ok()) return Status::error(EINVAL, path + ": " + du.status().message());
      dc.uuid = du.value();
      dc.path = toml::find<std::string>(d, "path");
      dc.size = toml::find_or<uint64_t>(d, "size", 0);
      dc.removed = toml::find_or<bool>(d, "removed", false);
      dc.disk_class = toml::find_or<std::string>(d, "class", "");
      if (!dc.disk_class.empty() && dc.disk_class != "ssd" && dc.disk_class != "hdd")
        return Status::error(EINVAL,
                             path + ": disk class must be ssd or hdd, not '" + dc.disk_class + "'");
      cfg.disks.push_back(dc);
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find('\n');
    return Status::error(EINVAL, "cannot parse " + path + ": " + msg.substr(0, nl));
  }
  auto settings = read_settings_table(path);
  if (!settings.is_ok()) return settings.status();
  cfg.settings = std::move(settings).value();
  if (cfg.format_version != Superblock::kFormatVersion) {
    return Status::error(EPROTONOSUPPORT, path + ": unsupported format_version " +
                                              std::to_string(cfg.format_version));
  }
  if (cfg.disks.empty()) return Status::error(EINVAL, path + ": no disks listed");
  for (size_t i = 0; i < cfg.disks.size(); ++i) {
    if (cfg.disks[i].index != i)
      return Status::error(EINVAL, path + ": disks must be listed in index order");
  }
  return cfg;
}

Status VolumeConfig::save(const std::string& volume_dir) const {
  std::ostringstream out;
  out << "# dynamicfs volume configuration, written by `dynamicfs mkfs`.\n"
      << "# Disks are matched by UUID against their superblocks at mount.\n"
      << "format_version = " << format_version << "\n"
      << "volume_uuid = \"" << uuid_to_string(volume_uuid) << "\"\n"
      << "replicas = " << replicas << "\n";
  for (const auto& d : disks) {
    out << "\n[[disks]]\nindex = " << d.index << "\nuuid = \"" << uuid_to_string(d.uuid)
        << "\"\npath = " << toml::value(d.path) << "\n";
    if (d.size != 0) out << "size = " << d.size << "\n";
    if (d.removed) out << "removed = true\n";
    if (!d.disk_class.empty()) out << "class = \"" << d.disk_class << "\"\n";
  }
  if (!settings.empty()) {
    out << "\n# Daemon settings (see `dynamicfs config list`); mount -o overrides them.\n"
        << "[settings]\n";
    for (const auto& [key, value] : settings) {
      bool numeric = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
      out << key << " = ";
      if (numeric) {
        out << value << "\n";
      } else {
        out << toml::value(value) << "\n";
      }
    }
  }
  std::string path = file_path(volume_dir);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("cannot write " + tmp);
  std::string text = out.str();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (!ok) return Status::error(saved, "cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::from_errno("cannot rename " + tmp);
  return Status::ok();
}

}  // namespace dynamicfs

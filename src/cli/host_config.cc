// HostConfig: toml11 parsing of /etc/dynamicfs/NAME.toml.
#include "src/cli/host_config.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <toml.hpp>

#include "src/extent/volume_config.h"

namespace dynamicfs {

std::string HostConfig::dir() {
  const char* env = std::getenv("DYNAMICFS_CONFIG_DIR");
  return env != nullptr && *env != '\0' ? env : "/etc/dynamicfs";
}

std::string HostConfig::name_of(const std::string& volume_dir) {
  return std::filesystem::path(volume_dir).lexically_normal().filename().string();
}

Result<HostConfig> HostConfig::load(const std::string& name) {
  HostConfig c;
  c.volume = "/var/lib/dynamicfs/" + name;
  if (name.empty() || name == "." || name == "..") return c;
  const std::string path = dir() + "/" + name + ".toml";
  if (::access(path.c_str(), F_OK) != 0) return c;
  c.path = path;
  try {
    const auto data = toml::parse(path);
    c.volume = toml::find_or<std::string>(data, "volume", c.volume);
    c.mountpoint = toml::find_or<std::string>(data, "mountpoint", "");
    c.options = toml::find_or<std::vector<std::string>>(data, "options", {});
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return Status::error(EINVAL, "cannot parse " + path + ": " + msg.substr(0, msg.find('\n')));
  }
  auto settings = read_settings_table(path);
  if (!settings.is_ok()) return settings.status();
  c.settings = std::move(settings).value();
  return c;
}

}  // namespace dynamicfs

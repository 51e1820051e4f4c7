// ControlClient: the CLI side of the control socket: finds the daemon of a
// mountpoint and exchanges JSON lines with it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "src/common/result.h"

namespace dynamicfs {

struct MountInfo {
  std::string mountpoint;  // canonical path
  std::string volume_dir;  // the mount source
};

class ControlClient {
 public:
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Looks MOUNTPOINT up in /proc/self/mountinfo; ENOENT if it is not a
  // dynamicfs mount.
  static Result<MountInfo> find_mount(const std::string& mountpoint);
  static std::string socket_path(const std::string& volume_dir) {
    return volume_dir + "/control.sock";
  }
  static Result<std::unique_ptr<ControlClient>> connect(const std::string& volume_dir);

  Status send(const nlohmann::json& request);
  Result<nlohmann::json> receive();
  Result<nlohmann::json> call(const nlohmann::json& request);

 private:
  explicit ControlClient(int fd) : m_fd(fd) {}
  int m_fd;
  std::string m_buffer;
};

}  // namespace dynamicfs

// ControlClient: the CLI side of the control socket: finds the daemon of a
// mountpoint and exchanges JSON lines with it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct MountInfo {
  std::string mountpoint;  // canonical path
  std::string volume_dir;  // the mount source
};

// One line of /proc/self/mountinfo, unescaped.
struct MountEntry {
  std::string dev;  // "major:minor"
  std::string mountpoint;
  std::string fstype;
  std::string source;
};

class ControlClient {
 public:
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // Looks MOUNTPOINT up in /proc/self/mountinfo; ENOENT if it is not a
  // dynamicfs mount. The path is matched lexically first, so a mount whose
  // daemon is stopped or hung (where stat would block) is still found.
  static Result<MountInfo> find_mount(const std::string& mountpoint);
  // Every mount of this mount namespace, in mount order.
  static std::vector<MountEntry> mount_table();
  // VOLUME/control.sock, or /run/dynamicfs/<hash of VOLUME>.sock when that
  // path is too long for a Unix socket address (108 bytes).
  static std::string socket_path(const std::string& volume_dir);
  static constexpr const char* kRunDir = "/run/dynamicfs";
  // Errors say in one line what is wrong: no daemon (stale mount),
  // permission denied (not root or the mounting user), and so on.
  static Result<std::unique_ptr<ControlClient>> connect(const std::string& volume_dir);
  // find_mount + connect.
  static Result<std::unique_ptr<ControlClient>> connect_mount(const std::string& mountpoint);

  // timeout_ms < 0 waits for ever (umount's wait_exit, a scrub). A reply
  // carrying "error" becomes an error Status with its errno.
  Status send(const nlohmann::json& request);
  Result<nlohmann::json> receive(int timeout_ms = -1);
  Result<nlohmann::json> call(const nlohmann::json& request, int timeout_ms = -1);

  // How long status-like requests wait for an answer, so a hung daemon
  // gives a clear error well within two seconds.
  static constexpr int kQuickTimeoutMs = 1500;

 private:
  ControlClient(int fd, std::string path) : m_fd(fd), m_path(std::move(path)) {}
  int m_fd;
  std::string m_path;
  std::string m_buffer;
};

}  // namespace dynamicfs

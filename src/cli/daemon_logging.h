// Daemon logging: spdlog to VOLUME/log/dynamicfs.log with rotation, plus
// stderr in the foreground. Under systemd (JOURNAL_STREAM names the stream
// that is stderr) stderr lines carry a "<N>" syslog priority prefix and no
// timestamp, which journald understands. The level changes at run time through the
// log_level setting (`dynamicfs log-level`).
#pragma once

#include <string>

namespace dynamicfs {

class DaemonLogging {
 public:
  static constexpr size_t kMaxFileBytes = 16u << 20;
  static constexpr size_t kMaxFiles = 5;  // rotated files kept besides the current one

  static void setup(const std::string& volume_dir, bool foreground);
  static bool under_systemd();
};

}  // namespace dynamicfs

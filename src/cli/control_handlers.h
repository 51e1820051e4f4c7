// The daemon's control request handler: what `dynamicfs status`, `config`,
// `scrub`, `snapshot` and `disk` commands ask of a running mount, and the
// context the answers are made from.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "src/cli/daemon_settings.h"
#include "src/cli/daemon_status.h"
#include "src/cli/scrub_service.h"

namespace dynamicfs {

class FileSystem;

// Everything the control handler reaches.
struct DaemonContext {
  FileSystem& fs;
  DaemonSettings& settings;
  DaemonStatus& status;
  ScrubService& scrub;
  std::string volume_dir;
};

// Answers one request {"op": ..., ...}; an unknown op gets EOPNOTSUPP.
nlohmann::json handle_control_request(DaemonContext& d, const nlohmann::json& req);

// Tests only: with DYNAMICFS_FAULT_INJECTION=1 in the daemon's environment
// every disk journals its unsynced writes (see control_handlers.cc).
bool fault_injection_enabled();

// The scrub_rate_mb setting in bytes per second.
uint64_t scrub_rate_setting(const DaemonSettings& settings);

}  // namespace dynamicfs

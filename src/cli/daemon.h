// The mount daemon: opens the volume, mounts FUSE, serves the control socket
// (and optionally HTTP /metrics), and on unmount or SIGTERM flushes
// everything and writes the clean checkpoint.
#pragma once

#include <string>

#include "src/cli/commands.h"

namespace dynamicfs {

// Runs in the daemon process until unmounted; returns its exit code.
// `notify_fd` (>= 0 when forked by `dynamicfs mount`) receives "OK\n" once
// mounted, or one error line.
int run_daemon(const MountOptions& o, const std::string& mountpoint, int notify_fd);

}  // namespace dynamicfs

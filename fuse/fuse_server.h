// FuseServer: mounts a FileSystem with libfuse's low-level API and runs the
// multi-threaded request loop. The op handlers (fuse_ops.cc) only translate
// requests to FileSystem calls and replies; no storage logic lives here.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "fuse/fuse_op_metrics.h"
#include "src/common/status.h"
#include "src/fs/file_system.h"

struct fuse_session;

namespace dynamicfs {

struct FuseConfig {
  std::string mountpoint;
  std::string fsname;                // shown in /proc/mounts
  std::vector<std::string> options;  // extra -o options
  unsigned max_threads = 16;
  // Every change to the namespace goes through this kernel mount (the daemon
  // is the only writer), so the kernel may cache names and attributes long;
  // the kernel invalidates them itself on the operations it sends.
  double entry_timeout = 10.0;
  double attr_timeout = 10.0;
  // The kernel's writeback cache: writes are gathered in the page cache and
  // sent in large chunks; the kernel keeps size and mtime, and sends them.
  bool writeback_cache = false;
};

class FuseServer {
 public:
  FuseServer(FileSystem& fs, FuseConfig config);
  ~FuseServer();
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Creates the session and mounts; afterwards the mountpoint is live.
  Status mount();
  // Serves requests until unmounted or signalled (SIGTERM, SIGINT, SIGHUP).
  Status run();
  // Asks the loop to stop (safe from any thread).
  void request_exit();
  void unmount();

  FileSystem& fs() { return m_fs; }
  fuse_session* session() { return m_session; }
  const FuseConfig& config() const { return m_config; }
  FuseOpMetrics& op_metrics() { return m_op_metrics; }
  const FuseOpMetrics& op_metrics() const { return m_op_metrics; }

  // Kernel cache timeouts (seconds); live settings, read on every reply.
  double entry_timeout() const { return m_entry_timeout.load(std::memory_order_relaxed); }
  double attr_timeout() const { return m_attr_timeout.load(std::memory_order_relaxed); }
  void set_entry_timeout(double s) { m_entry_timeout.store(s, std::memory_order_relaxed); }
  void set_attr_timeout(double s) { m_attr_timeout.store(s, std::memory_order_relaxed); }

 private:
  FileSystem& m_fs;
  FuseConfig m_config;
  FuseOpMetrics m_op_metrics;
  std::atomic<double> m_entry_timeout;
  std::atomic<double> m_attr_timeout;
  fuse_session* m_session = nullptr;
  bool m_mounted = false;
  bool m_signals = false;
};

}  // namespace dynamicfs

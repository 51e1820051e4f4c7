// The mount daemon: start-up order and shutdown (control requests are
// answered by control_handlers.cc).
#include "src/cli/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "fuse/fuse_server.h"
#include "src/cli/control_handlers.h"
#include "src/cli/daemon_logging.h"
#include "src/cli/daemon_settings.h"
#include "src/cli/daemon_status.h"
#include "src/cli/host_config.h"
#include "src/cli/mount_flags.h"
#include "src/cli/scrub_service.h"
#include "src/cli/sd_notify.h"
#include "src/control/control_client.h"
#include "src/control/control_server.h"
#include "src/control/metric_format.h"
#include "src/control/metrics_http_server.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

// Whether VOLUME is mounted (live) in this mount namespace.
bool volume_mounted(const std::string& volume) {
  for (const auto& m : ControlClient::mount_table())
    if (m.fstype == "fuse.dynamicfs" && m.source == volume) return true;
  return false;
}

// Opens the volume. A live volume that is locked but mounted nowhere is
// held by a daemon still flushing after a plain umount(8) (which returns
// before the daemon is done), or by fsck or a fetch: wait for it, up to
// kHeldWait, instead of failing at once. A mounted volume fails at once.
Result<std::unique_ptr<Volume>> open_volume(const MountOptions& o) {
  constexpr auto kHeldWait = std::chrono::seconds(60);
  auto open = [&o] {
    return o.snapshot.empty() ? Volume::open(o.volume)
                              : Volume::open_snapshot(o.volume, o.snapshot);
  };
  auto vol = open();
  if (vol.is_ok() || vol.err() != EBUSY || !o.snapshot.empty() || volume_mounted(o.volume))
    return vol;
  std::cerr << "dynamicfs: volume " << o.volume
            << " is still in use but not mounted (its previous daemon finishing an unmount?); "
               "waiting up to "
            << kHeldWait.count() << " s" << std::endl;
  const auto deadline = std::chrono::steady_clock::now() + kHeldWait;
  while (std::chrono::steady_clock::now() < deadline && !volume_mounted(o.volume)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    vol = open();
    if (vol.is_ok() || vol.err() != EBUSY) return vol;
  }
  return vol;
}

// libfuse passes noatime to the kernel, but not strictatime or nodiratime.
// They are set with a remount, on a thread of its own once requests are
// served (a remount syncs the filesystem, which needs the daemon), so that
// the mount table says what the daemon does, and mount(8) repeats that,
// not relatime, on a later `mount -o remount`.
std::thread set_kernel_atime_flags(const std::string& mountpoint, AtimePolicy policy) {
  if (::geteuid() != 0 || (policy.mode != AtimePolicy::Mode::kStrictatime && policy.dir_atime)) {
    return {};
  }
  return std::thread([mountpoint, policy] {
    unsigned long flags = MountFlags::current(mountpoint);
    if (policy.mode == AtimePolicy::Mode::kStrictatime) MountFlags::apply("strictatime", &flags);
    if (!policy.dir_atime) MountFlags::apply("nodiratime", &flags);
    Status st = MountFlags::remount(mountpoint, flags);
    if (!st.is_ok())
      spdlog::warn("access-time flags not shown in the mount table: {}", st.message());
  });
}

}  // namespace

int run_daemon(const MountOptions& o, const std::string& mountpoint, int notify) {
  // glibc gives each contending thread an arena of its own, up to 8 per
  // core; with 16 FUSE workers, the I/O pools and RocksDB's threads each
  // arena keeps its own free lists, and 1,000,000 files cost 242 MiB of RSS
  // where 4 arenas need 183 MiB (same create and stat rates, measured side
  // by side). The per-thread caches in front of the arenas keep the common
  // small allocations off their locks. MALLOC_ARENA_MAX still overrides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) ::mallopt(M_ARENA_MAX, 4);
  auto report = [&](const std::string& msg) {
    if (notify < 0) {
      if (msg != "OK") std::cerr << "dynamicfs: " << msg << std::endl;
      return;
    }
    std::string line = msg + "\n";
    (void)!::write(notify, line.data(), line.size());
    ::close(notify);
    notify = -1;
  };
  auto vol = open_volume(o);
  if (!vol.is_ok()) {
    report(vol.status().message());
    return 1;
  }
  // A snapshot mount keeps its log, control socket and pid file in the
  // snapshot's directory, and is named by it in the mount table.
  std::string volume_dir = o.snapshot.empty()
                               ? vol.value()->dir()
                               : SnapshotCatalog::dir(vol.value()->dir(), o.snapshot);
  DaemonLogging::setup(volume_dir, o.foreground);
  spdlog::info("mounting volume {} at {}", volume_dir, mountpoint);
  DaemonSettings settings;
  FsOptions fs_opts;
  FuseConfig fc;
  std::vector<std::string> fuse_opts;
  // Settings: the volume's own [settings], then /etc/dynamicfs/NAME.toml,
  // then -o (the file's `options` first, the command line's last).
  Status parsed = settings.load_persisted(vol.value()->config().settings, "volume.toml [settings]");
  auto host = HostConfig::load(HostConfig::name_of(vol.value()->dir()));
  if (!host.is_ok()) parsed = host.status();
  std::vector<std::string> mount_options;
  if (host.is_ok()) {
    if (parsed.is_ok() && !host->path.empty()) {
      spdlog::info("settings from {}", host->path);
      parsed = settings.load_persisted(host->settings, host->path);
    }
    mount_options = host->options;
  }
  mount_options.insert(mount_options.end(), o.fuse_options.begin(), o.fuse_options.end());
  if (parsed.is_ok()) parsed = settings.apply_mount_options(mount_options, &fuse_opts);
  if (!parsed.is_ok()) {
    report(parsed.message());
    return 1;
  }
  settings.fill(&fs_opts, &fc);
  if (!o.snapshot.empty()) fuse_opts.push_back("ro");
  if (fault_injection_enabled() && o.snapshot.empty()) {
    spdlog::warn("fault injection enabled: disks journal unsynced writes (tests only)");
    for (size_t i = 0; i < vol.value()->disk_count(); ++i) {
      auto plan = std::make_shared<FaultPlan>();
      plan->journal_unsynced(true);
      vol.value()->disk(i).set_fault_plan(std::move(plan));
    }
  }
  auto fs = FileSystem::open(std::move(vol).value(), fs_opts);
  if (!fs.is_ok()) {
    spdlog::error("cannot open volume: {}", fs.status().to_string());
    report("cannot open volume: " + fs.status().message());
    return 1;
  }
  fc.mountpoint = mountpoint;
  fc.fsname = volume_dir;
  fc.options = fuse_opts;
  fc.max_threads = o.threads;
  fs.value()->set_mount_read_only(std::find(fuse_opts.begin(), fuse_opts.end(), "ro") !=
                                  fuse_opts.end());
  FuseServer server(*fs.value(), fc);
  settings.attach(fs.value().get(), &server);
  ScrubService scrub(*fs.value());
  DaemonStatus status(*fs.value(), server, scrub, settings, mountpoint);
  MetricsHttpServer http([&status] { return MetricFormat::prometheus(status.collect()); });
  std::string listen = settings.get("metrics_listen").value();
  if (!listen.empty()) {
    Status st = http.start(listen);
    if (!st.is_ok()) {
      spdlog::error("{}", st.message());
      report(st.message());
      return 1;
    }
    status.set_metrics_endpoint(http.endpoint());
    spdlog::info("serving Prometheus metrics on http://{}/metrics", http.endpoint());
  }
  Status st = server.mount();
  if (!st.is_ok()) {
    spdlog::error("{}", st.message());
    report(st.message());
    return 1;
  }
  DaemonContext ctx{*fs.value(), settings, status, scrub, volume_dir};
  ControlServer control(ControlClient::socket_path(volume_dir),
                        [&ctx](const json& req) { return handle_control_request(ctx, req); });
  st = control.start();
  if (!st.is_ok()) {
    spdlog::error("{}", st.message());
    report(st.message());
    return 1;
  }
  status.start_sampling(control.context());
  // A snapshot mount reads only; scrubbing (and repairing) is the live
  // volume's work.
  if (o.snapshot.empty())
    scrub.start_periodic(
        [&settings] {
          return std::strtoull(settings.get("scrub_interval").value().c_str(), nullptr, 10);
        },
        [&settings] { return scrub_rate_setting(settings); });
  std::string pid_file = volume_dir + "/daemon.pid";
  std::ofstream(pid_file) << ::getpid() << "\n";
  spdlog::info("mounted; serving requests");
  report("OK");
  sd_notify_state("READY=1\nSTATUS=serving " + volume_dir + " at " + mountpoint);
  if (!o.foreground) {
    // Under systemd stderr is the journal's stream and carries the log, so
    // it stays open; otherwise the detached daemon lets go of the terminal.
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      if (!DaemonLogging::under_systemd()) ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  std::thread kernel_atime = set_kernel_atime_flags(mountpoint, fs.value()->atime_policy());
  st = server.run();
  if (kernel_atime.joinable()) kernel_atime.join();
  if (!st.is_ok()) spdlog::error("{}", st.to_string());
  server.unmount();
  sd_notify_state("STOPPING=1\nSTATUS=unmounted; flushing");
  spdlog::info("unmounted; flushing");
  // No control request may still use the filesystem while it shuts down.
  scrub.cancel();
  fs.value()->cancel_rebalance();
  status.stop_sampling();
  control.stop_serving();
  http.stop();
  Status shut = fs.value()->shutdown();
  int code = (st.is_ok() && shut.is_ok()) ? 0 : 1;
  if (!shut.is_ok()) spdlog::error("final flush failed: {}", shut.to_string());
  ::unlink(pid_file.c_str());
  // Close RocksDB and the disks before umount is told we are done, so a
  // mount right after umount never finds the volume still locked. Nothing
  // calls into the filesystem any more (FUSE, control, scrub and sampling
  // have stopped).
  fs.value().reset();
  // Logged before umount is told, so its caller finds the line.
  spdlog::info("daemon exiting with status {}", code);
  spdlog::default_logger()->flush();
  control.finish(code);
  spdlog::shutdown();
  return code;
}

}  // namespace dynamicfs

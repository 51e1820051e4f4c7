// The mount daemon: start-up order, the control request handler, shutdown.
#include "src/cli/daemon.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "fuse/fuse_server.h"
#include "src/cli/daemon_logging.h"
#include "src/cli/daemon_settings.h"
#include "src/cli/daemon_status.h"
#include "src/cli/host_config.h"
#include "src/cli/mount_flags.h"
#include "src/cli/scrub_service.h"
#include "src/cli/sd_notify.h"
#include "src/common/crash_point.h"
#include "src/control/control_client.h"
#include "src/control/control_server.h"
#include "src/control/metric_format.h"
#include "src/control/metrics_http_server.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

json error_reply(const Status& st) {
  return {{"error", st.message()}, {"errno", st.err()}};
}

// Everything the control handler reaches.
struct DaemonContext {
  FileSystem& fs;
  DaemonSettings& settings;
  DaemonStatus& status;
  ScrubService& scrub;
  std::string volume_dir;
};

// Tests only: with DYNAMICFS_FAULT_INJECTION=1 in the daemon's environment
// every disk journals its unsynced writes, so a "power_loss" request can
// undo a random subset of them and kill the daemon at once: what a power cut
// leaves on the data disks (the metadata store keeps what reached the OS,
// the worst order for the data path).
bool fault_injection_enabled() {
  const char* v = std::getenv("DYNAMICFS_FAULT_INJECTION");
  return v != nullptr && std::string(v) == "1";
}

json power_loss(DaemonContext& d, uint64_t seed) {
  if (!fault_injection_enabled()) {
    return error_reply(Status::error(
        EPERM, "fault injection is off (start the daemon with DYNAMICFS_FAULT_INJECTION=1)"));
  }
  Status failed;
  d.fs.power_cut(seed, [&](size_t undone, const Status& st) {
    if (!st.is_ok()) {
      failed = st;
      return;
    }
    spdlog::warn("injected power loss: {} unsynced writes undone; killing the daemon", undone);
    ::kill(::getpid(), SIGKILL);  // while nothing can reach the WAL any more
  });
  if (!failed.is_ok()) return error_reply(failed);
  return error_reply(Status::error(EIO, "still alive after SIGKILL"));
}

uint64_t scrub_rate_setting(const DaemonSettings& settings) {
  return std::strtoull(settings.get("scrub_rate_mb").value().c_str(), nullptr, 10) * 1000000;
}

json handle_request(DaemonContext& d, const json& req) {
  const std::string op = req["op"].get<std::string>();
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("control request: {}", req.dump());
  if (op == "status") {
    json s = d.status.summary();
    if (req.value("metrics", false)) s["metrics"] = d.status.collect().to_json();
    return s;
  }
  if (op == "metrics") return {{"metrics", d.status.collect().to_json()}};
  if (op == "scrub") {
    uint64_t rate = req.contains("rate_bytes_per_sec") ? req["rate_bytes_per_sec"].get<uint64_t>()
                                                       : scrub_rate_setting(d.settings);
    auto r = d.scrub.run(rate);
    if (!r.is_ok()) return error_reply(r.status());
    return ScrubService::report_json(r.value());
  }
  if (op == "disk_class") {
    const auto disk = req.value("disk", uint32_t{0});
    Status st = d.fs.volume().set_disk_class(disk, req.value("class", ""));
    if (!st.is_ok()) return error_reply(st);
    return {{"disk", disk}, {"class", disk_class_name(d.fs.volume().disk_class(disk))}};
  }
  if (op == "locate") {
    auto r = d.fs.extent_map(req.value("ino", uint64_t{0}));
    if (!r.is_ok()) return error_reply(r.status());
    json extents = json::array();
    for (const auto& [off, e] : r.value()) {
      json copies = json::array();
      for (const auto& c : e.copies) {
        const bool known = c.disk < d.fs.volume().disk_count();
        copies.push_back(
            {{"disk", c.disk},
             {"offset", c.offset},
             {"class", known ? disk_class_name(d.fs.volume().disk_class(c.disk)) : "unknown"}});
      }
      json item = {{"file_offset", off}, {"length", e.length}, {"copies", copies}};
      if (e.is_ec()) {
        item["ec"] = std::to_string(e.ec_k) + "+" + std::to_string(e.ec_m);
        item["unit_bytes"] = uint64_t{e.unit_blocks} * ExtentRecord::kBlock;
      }
      extents.push_back(std::move(item));
    }
    return {{"extents", extents}};
  }
  if (op == "policy_set") {
    auto p = DataPolicy::parse(req.value("policy", std::string()));
    if (!p.is_ok()) return error_reply(p.status());
    auto r = d.fs.set_policy(req.value("ino", uint64_t{0}), p.value());
    if (!r.is_ok()) return error_reply(r.status());
    return {{"policy", p->to_string()}, {"dirs", r->dirs}, {"files", r->files}};
  }
  if (op == "policy_get") {
    auto p = d.fs.data_policy(req.value("ino", uint64_t{0}));
    if (!p.is_ok()) return error_reply(p.status());
    std::string effective = p->to_string();
    if (p->is_default()) {
      effective = "replicas " + std::to_string(d.fs.volume().replicas()) + " (the volume's)";
    } else if (p->is_ec()) {
      effective += " (pieces under " + std::to_string(p->ec.k * DataPolicy::kMinUnitBlocks * 4) +
                   " KiB: replicas " + std::to_string(p->copies(d.fs.volume().replicas())) + ")";
    }
    return {{"policy", p->to_string()}, {"effective", effective}};
  }
  if (op == "trim") {
    auto r = d.fs.trim(req.value("minimum", uint64_t{4096}));
    if (!r.is_ok()) return error_reply(r.status());
    return {{"bytes", r->bytes}, {"disks", r->disks}};
  }
  if (op == "sync") {
    Status st = d.fs.sync_all();
    return st.is_ok() ? json{{"ok", true}} : error_reply(st);
  }
  if (op == "config_list") {
    json list = json::array();
    json values = d.settings.all();
    for (const auto& def : DaemonSettings::defs()) {
      std::string name(def.name);
      list.push_back({{"name", name},
                      {"value", values.value(name, "")},
                      {"default", std::string(def.default_value)},
                      {"live", def.live},
                      {"help", std::string(def.help)}});
    }
    return {{"settings", list}};
  }
  if (op == "config_get") {
    auto v = d.settings.get(req.value("key", ""));
    if (!v.is_ok()) return error_reply(v.status());
    return {{"key", req["key"]}, {"value", v.value()}};
  }
  if (op == "config_set" || op == "log_level") {
    std::string key = op == "log_level" ? "log_level" : req.value("key", "");
    std::string value = req.value("value", "");
    if (d.fs.read_only() && req.value("persist", false))
      return error_reply(Status::error(EROFS, "a snapshot mount cannot persist settings"));
    std::string old = d.settings.get(key).is_ok() ? d.settings.get(key).value() : "";
    Status st = d.settings.set(key, value, req.value("persist", false), d.volume_dir);
    if (!st.is_ok()) return error_reply(st);
    // A running scrub follows a new rate at once.
    if (key == "scrub_rate_mb") d.scrub.set_rate(scrub_rate_setting(d.settings));
    if (key == "scrub_interval") d.scrub.wake_periodic();
    return {{"key", key}, {"value", d.settings.get(key).value()}, {"previous", old}};
  }
  if (op == "disk_add") {
    auto r = d.fs.add_disk(req.value("path", ""), req.value("size", uint64_t{8} << 30),
                           req.value("force", false));
    if (!r.is_ok()) return error_reply(r.status());
    return {{"disk", r.value()}, {"moved_extents", d.fs.rebalance_status().extents_moved}};
  }
  if (op == "disk_remove") {
    Status st = d.fs.remove_disk(req.value("disk", uint32_t{0}));
    if (!st.is_ok()) return error_reply(st);
    return {{"disk", req["disk"]}, {"moved_extents", d.fs.rebalance_status().extents_moved}};
  }
  if (op == "snapshot_create") {
    auto r = d.fs.create_snapshot(req.value("name", ""));
    if (!r.is_ok()) return error_reply(r.status());
    return {{"name", r->name}, {"id", r->id}, {"created_ns", r->created_ns}};
  }
  if (op == "snapshot_delete") {
    Status st = d.fs.delete_snapshot(req.value("name", ""));
    if (!st.is_ok()) return error_reply(st);
    if (req.value("wait", false)) d.fs.drain_snapshot_deletes();
    return {{"deleted", req["name"]}};
  }
  if (op == "snapshot_list") {
    auto r = d.fs.list_snapshots();
    if (!r.is_ok()) return error_reply(r.status());
    json list = json::array();
    for (const auto& u : r.value()) {
      list.push_back({{"name", u.info.name},
                      {"id", u.info.id},
                      {"created_ns", u.info.created_ns},
                      {"referenced_bytes", u.referenced_bytes},
                      {"unique_bytes", u.unique_bytes}});
    }
    return {{"snapshots", list}, {"deletes_pending", d.fs.snapshot_deletes_pending()}};
  }
  if (op == "power_loss") return power_loss(d, req.value("seed", uint64_t{0}));
  if (op == "crash_point") {
    if (!fault_injection_enabled()) {
      return error_reply(Status::error(
          EPERM, "fault injection is off (start the daemon with DYNAMICFS_FAULT_INJECTION=1)"));
    }
    std::string name = req.value("name", "");
    if (!is_crash_point(name)) return error_reply(Status::error(EINVAL, "no crash point " + name));
    spdlog::warn("crash point {} armed", name);
    arm_crash_point(name);
    return {{"armed", name}};
  }
  if (op == "remount") {
    // mount.dynamicfs has changed the kernel's flags; the daemon follows.
    Status st = d.settings.remount(req.value("options", std::vector<std::string>{}));
    if (!st.is_ok()) return error_reply(st);
    d.fs.set_mount_read_only(req.value("read_only", false));
    spdlog::info("remounted {}", d.fs.mount_read_only() ? "read-only" : "read-write");
    return {{"read_only", d.fs.mount_read_only()}};
  }
  return error_reply(Status::error(EOPNOTSUPP, "unknown control request '" + op + "'"));
}

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
                        [&ctx](const json& req) { return handle_request(ctx, req); });
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

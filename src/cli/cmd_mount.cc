// `dynamicfs mount`: checks the mountpoint, forks the daemon, and returns only
// when the daemon reports the filesystem mounted (or its one-line error).
// The daemon opens the volume, mounts FUSE, serves the control socket, and on
// unmount or SIGTERM flushes everything and writes the clean checkpoint.
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "fuse/fuse_server.h"
#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/control/control_server.h"
#include "src/fs/file_system.h"
#include "src/fs/scrubber.h"

namespace dynamicfs {

namespace {

Status check_mountpoint(const std::string& mp, std::string* canonical) {
  struct stat st {};
  if (::stat(mp.c_str(), &st) != 0) return Status::from_errno("mountpoint " + mp);
  if (!S_ISDIR(st.st_mode))
    return Status::error(ENOTDIR, "mountpoint " + mp + " is not a directory");
  char resolved[PATH_MAX];
  if (::realpath(mp.c_str(), resolved) == nullptr)
    return Status::from_errno("cannot resolve " + mp);
  *canonical = resolved;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, point;
    ls >> id >> parent >> dev >> root >> point;
    if (point == *canonical)
      return Status::error(EBUSY, "mountpoint " + mp + " is already a mount point (busy)");
  }
  DIR* d = ::opendir(mp.c_str());
  if (d == nullptr) return Status::from_errno("cannot open mountpoint " + mp);
  bool empty = true;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  if (!empty) return Status::error(ENOTEMPTY, "mountpoint " + mp + " is not empty");
  return Status::ok();
}

// Splits -o options into dynamicfs settings and options for FUSE itself.
Status parse_settings(const std::vector<std::string>& in, FsOptions* fs, FuseConfig* fc,
                      std::vector<std::string>* fuse) {
  auto number = [](const std::string& key, const std::string& v, uint64_t max,
                   uint64_t* out) -> Status {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n > max) {
      return Status::error(EINVAL, "invalid value '" + v + "' for -o " + key);
    }
    *out = n;
    return Status::ok();
  };
  for (const std::string& opt : in) {
    if (opt.empty()) continue;
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq), value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    uint64_t n = 0;
    if (key == "group_commit") {
      if (value != "on" && value != "off")
        return Status::error(EINVAL, "-o group_commit takes on or off");
      fs->commit.enabled = value == "on";
    } else if (key == "commit_max_batch_ops") {
      DFS_RETURN_IF_ERROR(number(key, value, 1u << 20, &n));
      fs->commit.max_batch_ops = n == 0 ? 1 : n;
    } else if (key == "commit_max_delay_us") {
      DFS_RETURN_IF_ERROR(number(key, value, 100000, &n));
      fs->commit.max_delay_us = static_cast<uint32_t>(n);
    } else if (key == "io_workers") {
      DFS_RETURN_IF_ERROR(number(key, value, 256, &n));
      fs->io_workers = static_cast<unsigned>(n);
    } else if (key == "entry_timeout" || key == "attr_timeout") {
      DFS_RETURN_IF_ERROR(number(key, value, 3600, &n));
      (key == "entry_timeout" ? fc->entry_timeout : fc->attr_timeout) = static_cast<double>(n);
    } else if (key == "sync_interval_ms") {
      DFS_RETURN_IF_ERROR(number(key, value, 3600000, &n));
      fs->sync_interval_ms = static_cast<unsigned>(n == 0 ? 1 : n);
    } else {
      fuse->push_back(opt);
    }
  }
  return Status::ok();
}

void setup_logging(const std::string& volume_dir, bool foreground) {
  std::vector<spdlog::sink_ptr> sinks;
  std::error_code ec;
  std::filesystem::create_directories(Volume::log_dir(volume_dir), ec);
  try {
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(
        Volume::log_dir(volume_dir) + "/dynamicfs.log"));
  } catch (const spdlog::spdlog_ex&) {
    // The volume may be read-only; keep going with stderr only.
  }
  if (foreground) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("dynamicfs", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

nlohmann::json status_json(FileSystem& fs, const std::string& mountpoint,
                           std::chrono::steady_clock::time_point start) {
  using nlohmann::json;
  FsStats s = fs.stats();
  const Volume& vol = fs.volume();
  auto ratio = [](uint64_t a, uint64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
  };
  json disks = json::array();
  for (size_t i = 0; i < vol.disk_count(); ++i) {
    auto io = vol.scheduler(i).stats();
    const auto& sp = s.disks[i];
    json queue = json::object(), ops = json::object();
    for (size_t c = 0; c < kIoClassCount; ++c) {
      queue[io_class_name(static_cast<IoClass>(c))] = io.queued[c];
      ops[io_class_name(static_cast<IoClass>(c))] = io.ops[c];
    }
    disks.push_back({{"index", i},
                     {"path", vol.disk(i).path()},
                     {"uuid", uuid_to_string(vol.superblock(i).disk_uuid)},
                     {"state", "online"},
                     {"capacity_bytes", sp.capacity},
                     {"free_bytes", sp.free + sp.deferred},
                     {"used_bytes", sp.capacity - sp.free - sp.deferred},
                     {"deferred_free_bytes", sp.deferred},
                     {"rotational", vol.disk(i).rotational()},
                     {"io_workers", vol.scheduler(i).worker_count()},
                     {"io_queue_length", queue},
                     {"io_ops_total", ops},
                     {"io_coalesced_writes_total", io.coalesced_writes},
                     {"read_bytes_total", io.bytes_read},
                     {"written_bytes_total", io.bytes_written}});
  }
  auto up =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  const auto& c = s.commit;
  return json{{"volume", vol.dir()},
              {"volume_uuid", uuid_to_string(vol.config().volume_uuid)},
              {"mountpoint", mountpoint},
              {"pid", ::getpid()},
              {"uptime_seconds", up},
              {"replicas", vol.config().replicas},
              {"inodes", s.inodes},
              {"disks", disks},
              {"checksum_errors_total", s.checksum_errors},
              {"metadata",
               {{"batches_total", c.batches},
                {"ops_total", c.ops},
                {"group_commits_total", c.writes},
                {"avg_group_commit_ops", ratio(c.ops, c.writes)},
                {"group_commit_latency_seconds_sum", static_cast<double>(c.write_ns) / 1e9},
                {"fsync_requests_total", s.fsync_requests},
                {"sync_rounds_total", s.sync_rounds},
                {"avg_fsyncs_per_round", ratio(s.fsync_requests, s.sync_rounds)},
                {"sync_requests_total", c.sync_requests},
                {"wal_syncs_total", c.syncs},
                {"avg_sync_group_size", ratio(c.sync_requests, c.syncs)},
                {"wal_sync_latency_seconds_sum", static_cast<double>(c.sync_ns) / 1e9}}},
              {"locks",
               {{"lock_acquisitions", s.locks.acquisitions},
                {"lock_contentions", s.locks.contended},
                {"lock_wait_seconds_sum", static_cast<double>(s.locks.wait_ns) / 1e9},
                {"lock_contention_ratio", ratio(s.locks.contended, s.locks.acquisitions)}}}};
}

// Runs in the daemon process. `notify` receives "OK\n" or one error line.
int run_daemon(const MountOptions& o, const std::string& mountpoint, int notify) {
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
  auto vol = Volume::open(o.volume);
  if (!vol.is_ok()) {
    report(vol.status().message());
    return 1;
  }
  std::string volume_dir = vol.value()->dir();
  setup_logging(volume_dir, o.foreground);
  spdlog::info("mounting volume {} at {}", volume_dir, mountpoint);
  FsOptions fs_opts;
  FuseConfig fc;
  std::vector<std::string> fuse_opts;
  Status parsed = parse_settings(o.fuse_options, &fs_opts, &fc, &fuse_opts);
  if (!parsed.is_ok()) {
    report(parsed.message());
    return 1;
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
  FuseServer server(*fs.value(), fc);
  Status st = server.mount();
  if (!st.is_ok()) {
    spdlog::error("{}", st.message());
    report(st.message());
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  FileSystem* fsp = fs.value().get();
  ControlServer control(ControlClient::socket_path(volume_dir),
                        [&](const nlohmann::json& req) -> nlohmann::json {
                          if (req["op"] == "status") return status_json(*fsp, mountpoint, start);
                          if (req["op"] == "scrub") {
                            Scrubber scrubber(fsp->volume());
                            uint64_t rate = req.value("rate_bytes_per_sec", uint64_t{0});
                            auto r = scrubber.run(rate);
                            if (!r.is_ok())
                              return nlohmann::json{{"error", r.status().to_string()}};
                            return nlohmann::json{{"extents", r->extents},
                                                  {"bytes", r->bytes},
                                                  {"checksum_errors", r->checksum_errors},
                                                  {"read_errors", r->read_errors},
                                                  {"problems", r->problems}};
                          }
                          if (req["op"] == "sync") {
                            Status s = fsp->sync_all();
                            return s.is_ok() ? nlohmann::json{{"ok", true}}
                                             : nlohmann::json{{"error", s.to_string()}};
                          }
                          return nlohmann::json{{"error", "unknown op"}};
                        });
  st = control.start();
  if (!st.is_ok()) {
    spdlog::error("{}", st.to_string());
    report(st.to_string());
    return 1;
  }
  std::string pid_file = volume_dir + "/daemon.pid";
  std::ofstream(pid_file) << ::getpid() << "\n";
  spdlog::info("mounted; serving requests");
  report("OK");
  if (!o.foreground) {
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  st = server.run();
  if (!st.is_ok()) spdlog::error("{}", st.to_string());
  server.unmount();
  spdlog::info("unmounted; flushing");
  Status shut = fs.value()->shutdown();
  int code = (st.is_ok() && shut.is_ok()) ? 0 : 1;
  if (!shut.is_ok()) spdlog::error("final flush failed: {}", shut.to_string());
  ::unlink(pid_file.c_str());
  control.finish(code);
  spdlog::info("daemon exiting with status {}", code);
  spdlog::shutdown();
  return code;
}

}  // namespace

int cmd_mount(const MountOptions& o) {
  std::string mountpoint;
  Status st = check_mountpoint(o.mountpoint, &mountpoint);
  if (!st.is_ok()) return fail(st.message());
  if (o.foreground) return run_daemon(o, mountpoint, -1);

  int pipefd[2];
  if (::pipe(pipefd) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(pipefd[0]);
    ::setsid();
    if (::chdir("/") != 0) _exit(1);
    _exit(run_daemon(o, mountpoint, pipefd[1]));
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof(buf))) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    msg.append(buf, static_cast<size_t>(n));
  }
  ::close(pipefd[0]);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (msg == "OK") return 0;
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  return fail(msg.empty() ? "daemon exited before mounting (see the volume's log/dynamicfs.log)"
                          : msg);
}

}  // namespace dynamicfs

// Implementation of the integration-test volume fixture (see
// mount_fixture.h). Everything here talks to the product only through the
// `dynamicfs` executable and plain POSIX calls, so the tests that use it
// are black-box tests of what users actually run.
#include "mount_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace dynamicfs::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = std::chrono::seconds(300);
constexpr auto kCleanupCommandTimeout = std::chrono::seconds(60);
constexpr auto kDaemonExitDeadline = std::chrono::milliseconds(20000);

std::string quote_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += '\'' + a + '\'';
  }
  return s;
}

std::string describe(const std::vector<std::string>& argv, const CommandResult& r) {
  std::ostringstream os;
  os << quote_argv(argv) << " exited " << r.exit_code;
  if (!r.err.empty()) os << ", stderr: " << r.err;
  if (!r.out.empty()) os << ", stdout: " << r.out;
  return os.str();
}

CommandResult run_command_with_timeout(const std::vector<std::string>& argv,
                                       std::chrono::seconds timeout) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    return result;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.exit_code = 127;
    result.err = "posix_spawnp(" + argv[0] + "): " + std::strerror(rc);
    return result;
  }

  // A daemonizing child (dynamicfs mount) may leave a grandchild holding the
  // pipes open, so stop reading once the direct child has exited instead of
  // waiting for EOF.
  fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  auto drain = [](int fd, std::string& into) {
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n == 0;  // true on EOF
    }
  };

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_eof = false;
  bool err_eof = false;
  int status = 0;
  bool exited = false;
  bool timed_out = false;
  while (!exited) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    poll(fds, 2, 50);
    if (!out_eof) out_eof = drain(out_pipe[0], result.out);
    if (!err_eof) err_eof = drain(err_pipe[0], result.err);
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
    } else if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      exited = true;
      timed_out = true;
    }
  }
  if (!out_eof) drain(out_pipe[0], result.out);
  if (!err_eof) drain(err_pipe[0], result.err);
  close(out_pipe[0]);
  close(err_pipe[0]);

  if (timed_out) {
    result.exit_code = -1;
    result.err += "\n[test harness: killed after timeout]";
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

// Decodes the octal escapes (\040 etc.) used in /proc/self/mountinfo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') {
          ok = false;
          break;
        }
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::vector<std::string> mount_points() {
  std::vector<std::string> points;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    if (fields >> id >> parent >> devno >> root >> point) {
      points.push_back(unescape_mountinfo(point));
    }
  }
  return points;
}

bool process_cmdline_mentions(pid_t pid, const std::string& needle) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(needle) != std::string::npos;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv) {
  return run_command_with_timeout(argv, kCommandTimeout);
}

std::string dynamicfs_binary() {
  if (const char* env = std::getenv("DYNAMICFS_BIN"); env && *env) return env;
#ifdef DYNAMICFS_BIN_DEFAULT
  return DYNAMICFS_BIN_DEFAULT;
#else
  return "dynamicfs";
#endif
}

bool is_mount_point(const std::string& path) {
  for (const auto& p : mount_points()) {
    if (p == path) return true;
  }
  return false;
}

bool integration_environment_ok(std::string* why) {
  if (geteuid() != 0) {
    *why = "integration tests must run as root (mkfs/mount of dynamicfs)";
    return false;
  }
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    *why = "/dev/fuse is not available";
    return false;
  }
  const std::string bin = dynamicfs_binary();
  if (bin.find('/') != std::string::npos && access(bin.c_str(), X_OK) != 0) {
    *why = "dynamicfs binary not executable: " + bin;
    return false;
  }
  return true;
}

bool wait_for_process_exit(pid_t pid, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string stat_path = "/proc/" + std::to_string(pid) + "/stat";
  for (;;) {
    std::ifstream in(stat_path);
    if (!in) return true;  // gone
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // State is the first field after the parenthesised command name.
    auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size()) {
      char state = stat[close_paren + 2];
      if (state == 'Z' || state == 'X') return true;  // dead, unreaped
    }
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
}

TestVolume::TestVolume(std::string disk_size) {
  char tmpl[] = "/tmp/dynamicfs-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  // mountinfo lists resolved paths; resolve /tmp in case it is a symlink.
  char resolved[PATH_MAX];
  dir_ = realpath(tmpl, resolved) ? resolved : tmpl;
  volume_ = dir_ + "/volume";
  mnt_ = dir_ + "/mnt";
  disks_ = {dir_ + "/disk0.img", dir_ + "/disk1.img"};
  try {
    if (mkdir(mnt_.c_str(), 0755) != 0) {
      throw std::runtime_error("mkdir " + mnt_ + ": " + std::strerror(errno));
    }
    std::vector<std::string> argv = {dynamicfs_binary(), "mkfs", "--volume", volume_};
    for (const auto& d : disks_) {
      argv.push_back("--disk");
      argv.push_back(d);
    }
    argv.push_back("--size");
    argv.push_back(disk_size);
    CommandResult r = run_command(argv);
    if (r.exit_code != 0) throw std::runtime_error(describe(argv, r));
    mount();
  } catch (...) {
    best_effort_unmount();
    remove_tree();
    throw;
  }
}

TestVolume::~TestVolume() {
  best_effort_unmount();
  remove_tree();
}

void TestVolume::mount() {
  std::vector<std::string> argv = {dynamicfs_binary(), "mount", "--volume", volume_, mnt_};
  // Extra mount options for a whole test run (e.g. writeback_cache=on).
  if (const char* opts = std::getenv("DYNAMICFS_MOUNT_OPTIONS"); opts && *opts) {
    argv.push_back("-o");
    argv.push_back(opts);
  }
  CommandResult r = run_command(argv);
  mounted_ = is_mount_point(mnt_);
  if (r.exit_code != 0) throw std::runtime_error(describe(argv, r));
  if (!mounted_) {
    throw std::runtime_error(describe(argv, r) + " but " + mnt_ + " is not a mount point");
  }
}

pid_t TestVolume::daemon_pid() const {
  const std::string path = volume_ + "/daemon.pid";
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    throw std::runtime_error("cannot read a daemon pid from " + path);
  }
  return static_cast<pid_t>(pid);
}

void TestVolume::umount() {
  pid_t pid = -1;
  try {
    pid = daemon_pid();
  } catch (const std::exception&) {
    // Reported below only if the unmount itself misbehaves.
  }
  std::vector<std::string> argv = {dynamicfs_binary(), "umount", mnt_};
  CommandResult r = run_command(argv);
  mounted_ = is_mount_point(mnt_);
  if (r.exit_code != 0) throw std::runtime_error(describe(argv, r));
  if (mounted_) {
    throw std::runtime_error(describe(argv, r) + " but " + mnt_ + " is still mounted");
  }
  if (pid > 0 && !wait_for_process_exit(pid, kDaemonExitDeadline)) {
    throw std::runtime_error("daemon pid " + std::to_string(pid) + " still running after " +
                             quote_argv(argv));
  }
}

void TestVolume::remount() {
  umount();
  mount();
}

pid_t TestVolume::kill9() {
  const pid_t pid = daemon_pid();
  // Never SIGKILL an unrelated process because of a stale pid file: the
  // daemon is forked by `dynamicfs mount --volume <our volume dir> ...`.
  if (!process_cmdline_mentions(pid, volume_)) {
    throw std::runtime_error("pid " + std::to_string(pid) + " from " + volume_ +
                             "/daemon.pid is not this volume's daemon");
  }
  if (kill(pid, SIGKILL) != 0) {
    throw std::runtime_error("kill(" + std::to_string(pid) + ", SIGKILL): " + std::strerror(errno));
  }
  detach_dead(pid);
  return pid;
}

pid_t TestVolume::power_loss(uint64_t seed) {
  const pid_t pid = daemon_pid();
  auto r = run_command_with_timeout(
      {dynamicfs_binary(), "debug", "power-loss", mnt_, "--seed", std::to_string(seed)},
      kCommandTimeout);
  if (r.exit_code != 0) throw std::runtime_error("debug power-loss failed: " + r.err);
  detach_dead(pid);
  return pid;
}

void TestVolume::detach_dead(pid_t pid) {
  if (!wait_for_process_exit(pid, kDaemonExitDeadline)) {
    throw std::runtime_error("daemon " + std::to_string(pid) + " survived SIGKILL");
  }
  // The kernel keeps the dead mount (ENOTCONN) until it is detached.
  if (is_mount_point(mnt_)) {
    run_command_with_timeout({"umount", "-l", mnt_}, kCleanupCommandTimeout);
  }
  if (is_mount_point(mnt_)) {
    run_command_with_timeout({"fusermount3", "-u", "-z", mnt_}, kCleanupCommandTimeout);
  }
  mounted_ = is_mount_point(mnt_);
  if (mounted_) {
    throw std::runtime_error("could not detach dead mount " + mnt_);
  }
}

void TestVolume::kill9_and_remount() {
  kill9();
  mount();
}

void TestVolume::best_effort_unmount() noexcept {
  if (dir_.empty()) return;
  pid_t pid = -1;
  {
    std::ifstream in(volume_ + "/daemon.pid");
    long p = 0;
    if (in >> p && p > 1) pid = static_cast<pid_t>(p);
  }
  if (is_mount_point(mnt_)) {
    run_command_with_timeout({dynamicfs_binary(), "umount", mnt_}, kCleanupCommandTimeout);
  }
  if (is_mount_point(mnt_)) {
    std::cerr << "[TestVolume] dynamicfs umount failed; lazy unmount of " << mnt_ << "\n";
    run_command_with_timeout({"umount", "-l", mnt_}, kCleanupCommandTimeout);
  }
  if (is_mount_point(mnt_)) {
    run_command_with_timeout({"fusermount3", "-u", "-z", mnt_}, kCleanupCommandTimeout);
  }
  mounted_ = is_mount_point(mnt_);
  // Do not leave a daemon behind (e.g. after a lazy unmount).
  if (pid > 0 && process_cmdline_mentions(pid, volume_) &&
      !wait_for_process_exit(pid, std::chrono::milliseconds(5000))) {
    std::cerr << "[TestVolume] daemon " << pid << " still alive after unmount; sending SIGKILL\n";
    kill(pid, SIGKILL);
    wait_for_process_exit(pid, kDaemonExitDeadline);
  }
}

void TestVolume::remove_tree() noexcept {
  if (dir_.empty()) return;
  if (const char* keep = std::getenv("DYNAMICFS_KEEP_TMP"); keep && *keep) {
    std::cerr << "[TestVolume] keeping " << dir_ << " (DYNAMICFS_KEEP_TMP)\n";
    return;
  }
  // Never recurse into something that is still mounted.
  const std::string prefix = dir_ + "/";
  for (const auto& p : mount_points()) {
    if (p == dir_ || p.rfind(prefix, 0) == 0) {
      std::cerr << "[TestVolume] " << p << " still mounted; not removing " << dir_ << "\n";
      return;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) {
    std::cerr << "[TestVolume] remove_all(" << dir_ << "): " << ec.message() << "\n";
  }
}

}  // namespace dynamicfs::testing

// `dynamicfs mount`: checks the mountpoint, forks the daemon (daemon.cc), and
// returns only when the daemon reports the filesystem mounted (or its
// one-line error).
#include <fcntl.h>
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

#include "src/cli/commands.h"
#include "src/cli/daemon.h"
#include "src/common/status.h"
#include "src/control/control_client.h"
#include "src/extent/volume_config.h"

namespace dynamicfs {

namespace {

// Whether PATH is DIR or lies below it (both canonical).
bool within(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         (dir == "/" || path[dir.size()] == '/'));
}

std::string canonical_or_self(const std::string& p) {
  char resolved[PATH_MAX];
  return ::realpath(p.c_str(), resolved) != nullptr ? std::string(resolved) : p;
}

// Like any Linux filesystem, dynamicfs mounts over a non-empty directory
// or over another mount. Refused are only the mountpoints that would hide
// the volume from its own daemon (the volume directory, a directory inside
// it, or a directory holding it or one of its disks) and a mountpoint where
// a dynamicfs volume is already mounted.
Status check_mountpoint(const std::string& mp, const std::string& volume, std::string* canonical) {
  struct stat st {};
  if (::stat(mp.c_str(), &st) != 0) return Status::from_errno("mountpoint " + mp);
  if (!S_ISDIR(st.st_mode))
    return Status::error(ENOTDIR, "mountpoint " + mp + " is not a directory");
  char resolved[PATH_MAX];
  if (::realpath(mp.c_str(), resolved) == nullptr)
    return Status::from_errno("cannot resolve " + mp);
  *canonical = resolved;
  if (ControlClient::find_mount(*canonical).is_ok())
    return Status::error(EBUSY, "mountpoint " + mp + " already has a dynamicfs volume mounted");
  const std::string vol = canonical_or_self(volume);
  if (within(*canonical, vol) || within(vol, *canonical)) {
    return Status::error(EINVAL, "mountpoint " + mp + " would hide the volume directory " + vol +
                                     " from its own daemon; choose a directory outside it");
  }
  auto cfg = VolumeConfig::load(vol);
  if (cfg.is_ok()) {
    for (const auto& d : cfg->disks) {
      const std::string disk = canonical_or_self(d.path);
      if (within(disk, *canonical)) {
        return Status::error(EINVAL, "mountpoint " + mp + " would hide disk " + disk +
                                         " of the volume; choose another directory");
      }
    }
  }
  return Status::ok();
}

}  // namespace

int cmd_mount(const MountOptions& o) {
  std::string mountpoint;
  Status st = check_mountpoint(o.mountpoint, o.volume, &mountpoint);
  if (!st.is_ok()) return fail(st.message());
  // The daemon leaves the working directory, so a relative volume path is
  // made absolute here.
  MountOptions opts = o;
  if (!opts.volume.empty() && opts.volume.front() != '/') {
    char resolved[PATH_MAX];
    if (::realpath(opts.volume.c_str(), resolved) == nullptr)
      return fail("volume " + opts.volume + ": " + std::strerror(errno));
    opts.volume = resolved;
  }
  if (opts.foreground) return run_daemon(opts, mountpoint, -1);

  int pipefd[2];
  if (::pipe(pipefd) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(pipefd[0]);
    ::setsid();
    if (::chdir("/") != 0) _exit(1);
    _exit(run_daemon(opts, mountpoint, pipefd[1]));
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

// `dynamicfs mount`: checks the mountpoint, forks the daemon (daemon.cc), and
// returns only when the daemon reports the filesystem mounted (or its
// one-line error).
#include <dirent.h>
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

}  // namespace

int cmd_mount(const MountOptions& o) {
  std::string mountpoint;
  Status st = check_mountpoint(o.mountpoint, &mountpoint);
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

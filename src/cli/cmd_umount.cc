// `dynamicfs umount`: unmounts and waits until the daemon has flushed,
// committed and exited, then reports the daemon's exit status.
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"

namespace dynamicfs {

namespace {

Status do_unmount(const std::string& mp) {
  if (::geteuid() == 0) {
    if (::umount2(mp.c_str(), 0) != 0) {
      if (errno == EBUSY)
        return Status::error(EBUSY, mp + " is busy (files open or a process has its cwd there)");
      return Status::from_errno("cannot unmount " + mp);
    }
    return Status::ok();
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    execlp("fusermount3", "fusermount3", "-u", mp.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int ws = 0;
  ::waitpid(pid, &ws, 0);
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
    return Status::error(EBUSY, "fusermount3 -u " + mp + " failed");
  return Status::ok();
}

}  // namespace

int cmd_umount(const std::string& mountpoint) {
  auto info = ControlClient::find_mount(mountpoint);
  if (!info.is_ok()) return fail(info.status().message());
  auto client = ControlClient::connect(info->volume_dir);
  if (client.is_ok()) {
    // Unmount only once the daemon has registered the wait (its ack), or
    // the daemon could finish before it sees the request.
    Status st = client.value()->send({{"op", "wait_exit"}, {"ack", true}});
    if (st.is_ok()) {
      auto ack = client.value()->receive(ControlClient::kQuickTimeoutMs);
      if (!ack.is_ok() || !ack->value("waiting", false)) st = Status::error(EIO);
    }
    if (!st.is_ok()) client = Status::error(EIO);
  }
  Status st = do_unmount(info->mountpoint);
  if (!st.is_ok()) return fail(st.message());
  if (!client.is_ok()) {
    std::cerr
        << "dynamicfs: warning: daemon not reachable; unmounted without waiting for its final flush"
        << std::endl;
    return 0;
  }
  auto reply = client.value()->receive();
  if (!reply.is_ok()) return fail("daemon ended without reporting its exit status");
  int code = reply->value("exit", 1);
  if (code != 0) return fail("daemon reported a failure during the final flush (see its log)");
  return 0;
}

}  // namespace dynamicfs

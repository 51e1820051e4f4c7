// Test-only helper that gives each integration test a private, mounted
// dynamicfs volume driven exclusively through the real `dynamicfs` binary
// (mkfs / mount / umount), exactly as an operator would. It exists so that
// the model and crash tests exercise the shipped CLI and daemon rather than
// project libraries, and so that a failing test can never leave a FUSE mount
// or a temp directory behind: the destructor always unmounts (falling back
// to a lazy unmount) and only then removes the temp directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace dynamicfs::testing {

// Outcome of running a child process to completion.
struct CommandResult {
  int exit_code = -1;  // exit status, or 128 + signal number
  std::string out;     // captured stdout
  std::string err;     // captured stderr
};

// Runs argv (argv[0] looked up in PATH) via posix_spawnp without a shell,
// capturing stdout and stderr. Never throws for a non-zero exit.
CommandResult run_command(const std::vector<std::string>& argv);

// Path of the dynamicfs binary: $DYNAMICFS_BIN, else the compile-time
// default DYNAMICFS_BIN_DEFAULT.
std::string dynamicfs_binary();

// True when the kernel lists `path` as a mount point in /proc/self/mountinfo.
bool is_mount_point(const std::string& path);

// Whether this process can run the integration tests (root + /dev/fuse).
// On false, `why` explains what is missing.
bool integration_environment_ok(std::string* why);

class TestVolume {
 public:
  // Creates /tmp/dynamicfs-test-XXXXXX, runs mkfs with two file disks of
  // `disk_size` (e.g. "256M") and mounts it at <dir>/mnt. Throws
  // std::runtime_error (after cleaning up) if any step fails.
  explicit TestVolume(std::string disk_size = "256M");
  ~TestVolume();

  TestVolume(const TestVolume&) = delete;
  TestVolume& operator=(const TestVolume&) = delete;

  const std::string& dir() const { return dir_; }            // temp root
  const std::string& volume_dir() const { return volume_; }  // --volume DIR
  const std::string& mountpoint() const { return mnt_; }
  const std::vector<std::string>& disks() const { return disks_; }

  // Clean `dynamicfs umount` followed by `dynamicfs mount`. Throws on error.
  void remount();

  // SIGKILLs the daemon (pid from DIR/daemon.pid), waits for it to die,
  // lazily unmounts the dead mount and leaves the volume unmounted.
  // Returns the pid that was killed. Throws on error.
  pid_t kill9();

  // A simulated power cut (the daemon must run with
  // DYNAMICFS_FAULT_INJECTION=1): `dynamicfs debug power-loss` undoes a
  // seeded random subset of unsynced disk writes and kills the daemon; the
  // dead mount is detached as by kill9(). Returns the daemon's pid.
  pid_t power_loss(uint64_t seed);

  // kill9() followed by mount().
  void kill9_and_remount();

  // `dynamicfs mount`; throws unless it exits 0 and the mount is visible.
  void mount();
  // `dynamicfs umount`; throws unless it exits 0, the mount is gone and the
  // daemon has exited.
  void umount();

  bool mounted() const { return mounted_; }

  // Reads DIR/daemon.pid; throws if missing or malformed.
  pid_t daemon_pid() const;

 private:
  void best_effort_unmount() noexcept;
  // Waits for a killed daemon and detaches its dead mount.
  void detach_dead(pid_t pid);
  void remove_tree() noexcept;

  std::string dir_;
  std::string volume_;
  std::string mnt_;
  std::vector<std::string> disks_;
  bool mounted_ = false;
};

// Waits (bounded) until `pid` no longer exists or is a zombie.
bool wait_for_process_exit(pid_t pid, std::chrono::milliseconds deadline);

}  // namespace dynamicfs::testing

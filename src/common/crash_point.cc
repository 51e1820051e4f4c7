// crash_point: one armed name, compared only while something is armed.
#include "src/common/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace dynamicfs {

namespace {
std::atomic<bool> g_armed{false};
std::mutex g_mutex;
std::string g_name;

constexpr const char* kPoints[] = {
    "group_commit.before_write", "group_commit.after_write", "rename.before_commit",
    "truncate.before_commit",    "punch.before_commit",      "copy_range.before_commit",
    "snapshot.before_rename",    "snapshot_delete.before_release",
};
}  // namespace

void crash_point(const char* name) {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  std::lock_guard lk(g_mutex);
  if (g_name != name) return;
  static const char msg[] = "dynamicfs: crash point reached; killing the daemon\n";
  (void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  ::kill(::getpid(), SIGKILL);
}

void arm_crash_point(const std::string& name) {
  std::lock_guard lk(g_mutex);
  g_name = name;
  g_armed.store(!name.empty());
}

bool is_crash_point(const std::string& name) {
  for (const char* p : kPoints)
    if (name == p) return true;
  return false;
}

}  // namespace dynamicfs

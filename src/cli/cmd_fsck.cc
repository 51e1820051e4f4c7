// `dynamicfs fsck`: checks (and with --repair fixes) an unmounted volume's
// metadata; prints what it found and exits like e2fsck. Also the test-only
// `dynamicfs debug power-loss`, whose volume fsck then checks.
#include <cstdio>

#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/fs/fsck.h"

namespace dynamicfs {

int cmd_fsck(const std::string& volume_dir, bool repair, const std::string& snapshot) {
  if (repair && !snapshot.empty()) {
    std::fprintf(stderr, "dynamicfs: a snapshot is read-only; --repair works on the volume\n");
    return 8;
  }
  auto vol =
      snapshot.empty() ? Volume::open(volume_dir) : Volume::open_snapshot(volume_dir, snapshot);
  if (!vol.is_ok()) {
    std::fprintf(stderr, "dynamicfs: cannot check %s: %s\n", volume_dir.c_str(),
                 vol.status().message().c_str());
    return 8;
  }
  auto rep = Fsck::run(*vol.value(), repair);
  if (!rep.is_ok()) {
    std::fprintf(stderr, "dynamicfs: fsck of %s failed: %s\n", volume_dir.c_str(),
                 rep.status().message().c_str());
    return 8;
  }
  const FsckReport& r = rep.value();
  for (const auto& p : r.problems) {
    const char* state = r.repaired && p.fixable ? "fixed" : p.fixable ? "fixable" : "NOT FIXABLE";
    std::printf("%s: %s [%s]\n", volume_dir.c_str(), p.what.c_str(), state);
  }
  for (const auto& n : r.notes) std::printf("%s: note: %s\n", volume_dir.c_str(), n.c_str());
  std::printf("%s: %llu inodes, %llu entries, %llu extents, %.1f MiB used (%.1f MiB shared): %s\n",
              volume_dir.c_str(), static_cast<unsigned long long>(r.inodes),
              static_cast<unsigned long long>(r.entries),
              static_cast<unsigned long long>(r.extents),
              static_cast<double>(r.used_bytes) / (1 << 20),
              static_cast<double>(r.shared_bytes) / (1 << 20),
              r.exit_code() == 0   ? "clean"
              : r.exit_code() == 1 ? "errors corrected"
                                   : "errors left uncorrected");
  return r.exit_code();
}

int cmd_power_loss(const std::string& mountpoint, uint64_t seed) {
  auto client = ControlClient::connect_mount(mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  auto reply = client.value()->call({{"op", "power_loss"}, {"seed", seed}}, 10000);
  // The daemon dies without answering; an answer is a refusal.
  if (reply.is_ok() || reply.err() != ECONNRESET) {
    return fail(reply.is_ok() ? "the daemon answered instead of dying" : reply.status().message());
  }
  return 0;
}

int cmd_crash_point(const std::string& mountpoint, const std::string& name) {
  auto client = ControlClient::connect_mount(mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  auto reply = client.value()->call({{"op", "crash_point"}, {"name", name}});
  if (!reply.is_ok()) return fail(reply.status().message());
  return 0;
}

}  // namespace dynamicfs

// The operating-system entry points: mount(8)'s helpers mount.dynamicfs and
// umount.dynamicfs (also reached as mount.fuse.dynamicfs and
// umount.fuse.dynamicfs, the FUSE convention), and `dynamicfs service NAME`,
// which dynamicfs@NAME.service runs. They only translate into `mount` and
// `umount`.
#include <libmount/libmount.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "src/cli/commands.h"
#include "src/cli/daemon_settings.h"
#include "src/cli/host_config.h"
#include "src/cli/mount_flags.h"
#include "src/control/control_client.h"

namespace dynamicfs {

namespace {

// mount(8)'s exit statuses.
constexpr int kUsage = 1;
constexpr int kMountFailure = 32;

// Options mount(8) and fstab use that are not for the filesystem. (The
// access-time options go to the daemon, which keeps access times.)
bool userspace_only(const std::string& opt) {
  static const char* const kDrop[] = {"defaults", "_netdev",  "auto",      "noauto", "user",
                                      "nouser",   "users",    "owner",     "group",  "nofail",
                                      "rw",       "iversion", "noiversion"};
  for (const char* d : kDrop)
    if (opt == d) return true;
  return opt.starts_with("x-") || opt.starts_with("comment=");
}

int helper_usage(const char* self, const char* what) {
  std::fprintf(stderr, "usage: %s %s\n(see mount.dynamicfs(8))\n", self, what);
  return kUsage;
}

// A dynamicfs mount at MP whose daemon is gone (killed, crashed) is
// detached, so a restart can mount there again.
void detach_if_dead(const std::string& mp) {
  auto info = ControlClient::find_mount(mp);
  if (!info.is_ok()) return;
  auto client = ControlClient::connect(info->volume_dir);
  if (client.is_ok()) return;  // alive: mount will say it is busy
  if (::umount2(info->mountpoint.c_str(), MNT_DETACH) == 0) {
    std::fprintf(stderr, "dynamicfs: detached %s, whose daemon had died\n",
                 info->mountpoint.c_str());
  }
}

// Records uhelper=dynamicfs for TARGET in libmount's utab, so umount(8)
// runs umount.dynamicfs, which waits for the daemon's final flush, instead
// of unmounting by itself and returning before the flush is done.
void register_umount_helper(const std::string& source, const std::string& target) {
  char resolved[PATH_MAX];
  if (::realpath(target.c_str(), resolved) == nullptr) return;
  libmnt_fs* fs = mnt_new_fs();
  libmnt_update* upd = mnt_new_update();
  int rc = fs == nullptr || upd == nullptr ? -ENOMEM : 0;
  if (rc == 0) rc = mnt_fs_set_source(fs, source.c_str());
  if (rc == 0) rc = mnt_fs_set_target(fs, resolved);
  if (rc == 0) rc = mnt_fs_set_fstype(fs, "fuse.dynamicfs");
  if (rc == 0) rc = mnt_fs_set_options(fs, "uhelper=dynamicfs");
  if (rc == 0) rc = mnt_update_set_fs(upd, 0, nullptr, fs);
  if (rc == 0) rc = mnt_update_table(upd, nullptr);
  if (rc < 0) {
    std::fprintf(stderr,
                 "dynamicfs: note: could not record the umount helper for %s (%s); umount(8) "
                 "will not wait for the final flush, `dynamicfs umount` does\n",
                 resolved, std::strerror(-rc));
  }
  mnt_free_update(upd);
  mnt_unref_fs(fs);
}

// mount -o remount,...: changes the flags of the live mount with mount(2)
// (ro and rw, suid, dev, exec, access times) and tells its daemon, which
// keeps access times and may change live settings; no second daemon.
int remount(const char* self, const std::string& target, const std::vector<std::string>& opts) {
  auto info = ControlClient::find_mount(target);
  if (!info.is_ok()) {
    std::fprintf(stderr, "%s: cannot remount %s: %s\n", self, target.c_str(),
                 info.status().message().c_str());
    return kMountFailure;
  }
  DaemonSettings check;  // refuses options a remount cannot change, before anything changes
  if (Status st = check.remount(opts); !st.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", self, st.message().c_str());
    return kUsage;
  }
  unsigned long flags = MountFlags::current(info->mountpoint);
  for (const auto& o : opts) (void)MountFlags::apply(o, &flags);
  if (Status st = MountFlags::remount(info->mountpoint, flags); !st.is_ok()) {
    std::fprintf(stderr, "%s: %s\n", self, st.message().c_str());
    return kMountFailure;
  }
  auto client = ControlClient::connect(info->volume_dir);
  Status told = client.is_ok() ? Status::ok() : client.status();
  if (told.is_ok()) {
    nlohmann::json req = {
        {"op", "remount"}, {"read_only", (flags & MS_RDONLY) != 0}, {"options", opts}};
    auto r = client.value()->call(req, ControlClient::kQuickTimeoutMs);
    if (!r.is_ok()) told = r.status();
  }
  if (!told.is_ok()) {
    std::fprintf(stderr, "%s: %s remounted, but its daemon was not told: %s\n", self,
                 info->mountpoint.c_str(), told.message().c_str());
    return kMountFailure;
  }
  return 0;
}

}  // namespace

int mount_helper(int argc, char** argv) {
  const char* self = argv[0];
  std::vector<std::string> args;
  std::vector<std::string> all_options;  // as given, for a remount
  MountOptions mo;
  bool fake = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" || a == "-t" || a == "-N") {
      if (i + 1 >= argc) return helper_usage(self, "SOURCE MOUNTPOINT [-o OPTIONS]");
      std::string v = argv[++i];
      if (a != "-o") continue;  // the type is ours; namespaces are not supported
      std::stringstream ss(v);
      std::string opt;
      while (std::getline(ss, opt, ',')) {
        if (!opt.empty()) all_options.push_back(opt);
        if (opt.empty() || userspace_only(opt)) continue;
        if (opt.starts_with("snapshot=")) {
          mo.snapshot = opt.substr(9);
        } else {
          mo.fuse_options.push_back(opt);
        }
      }
    } else if (a == "-f") {
      fake = true;
    } else if (a == "-n" || a == "-s" || a == "-v") {
      // no mtab to write; sloppy and verbose change nothing here
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: %s VOLUME_DIR MOUNTPOINT [-fnsv] [-o OPTIONS]\n"
          "Mounts a dynamicfs volume for mount(8): `mount -t dynamicfs DIR MOUNTPOINT` and\n"
          "fstab lines of type dynamicfs or fuse.dynamicfs. OPTIONS are those of\n"
          "`dynamicfs mount -o`, plus snapshot=NAME; defaults, _netdev, auto, noauto,\n"
          "nofail, user and x-* are for mount(8) and ignored. See mount.dynamicfs(8).\n",
          self);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      return helper_usage(self, "SOURCE MOUNTPOINT [-fnsv] [-o OPTIONS]");
    } else {
      args.push_back(a);
    }
  }
  const bool is_remount =
      std::find(all_options.begin(), all_options.end(), "remount") != all_options.end();
  if (is_remount && !args.empty()) {
    if (fake) return 0;
    // In order, the last word winning; `rw` is a flag here (userspace_only
    // drops it for a first mount).
    std::vector<std::string> opts;
    for (const auto& opt : all_options)
      if (opt != "remount" && (opt == "rw" || !userspace_only(opt))) opts.push_back(opt);
    return remount(self, args.back(), opts);
  }
  if (args.size() != 2) return helper_usage(self, "SOURCE MOUNTPOINT [-fnsv] [-o OPTIONS]");
  mo.volume = args[0];
  mo.mountpoint = args[1];
  if (fake) return 0;
  if (cmd_mount(mo) != 0) return kMountFailure;
  register_umount_helper(mo.volume, mo.mountpoint);
  return 0;
}

int umount_helper(int argc, char** argv) {
  std::vector<std::string> args;
  bool lazy = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-t" || a == "-N") {
      ++i;
    } else if (a == "-l") {
      lazy = true;
    } else if (a.size() > 1 && a[0] == '-') {
      // -n (no mtab), -v, -f, -r, -d: nothing to do differently
    } else {
      args.push_back(a);
    }
  }
  if (args.size() != 1) return helper_usage(argv[0], "MOUNTPOINT [-l]");
  if (lazy) {
    // umount -l: detach now; the daemon flushes and exits on its own.
    if (::umount2(args[0].c_str(), MNT_DETACH) != 0) {
      std::fprintf(stderr, "%s: %s: %s\n", argv[0], args[0].c_str(), std::strerror(errno));
      return kMountFailure;
    }
    return 0;
  }
  return cmd_umount(args[0]) == 0 ? 0 : kMountFailure;
}

int cmd_service(const std::string& name) {
  auto cfg = HostConfig::load(name);
  if (!cfg.is_ok()) return fail(cfg.status().message());
  if (cfg->mountpoint.empty()) {
    return fail("no mountpoint for volume " + name + ": put mountpoint = \"/PATH\" in " +
                HostConfig::dir() + "/" + name + ".toml");
  }
  std::error_code ec;
  std::filesystem::create_directories(cfg->mountpoint, ec);
  if (ec) return fail("cannot create mountpoint " + cfg->mountpoint + ": " + ec.message());
  detach_if_dead(cfg->mountpoint);
  MountOptions mo;
  mo.volume = cfg->volume;
  mo.mountpoint = cfg->mountpoint;
  mo.foreground = true;  // systemd supervises; readiness goes by sd_notify
  return cmd_mount(mo);
}

}  // namespace dynamicfs

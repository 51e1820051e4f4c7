// The subcommands of the `dynamicfs` binary. main.cc parses arguments with
// CLI11 into these option structs; each cmd_* returns the process exit code
// and prints at most one line on stderr when it fails.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/control/control_client.h"

namespace dynamicfs {

struct MkfsOptions {
  std::string volume;
  std::vector<std::string> disks;
  std::string size = "8G";
  uint32_t replicas = 0;  // 0: default for the disk count
  bool force = false;
  std::vector<std::string> classes;  // --class, in --disk order
};

struct MountOptions {
  std::string volume;
  std::string mountpoint;
  bool foreground = false;
  std::vector<std::string> fuse_options;
  unsigned threads = 16;
  std::string snapshot;  // mount this snapshot read-only instead of the live volume
};

struct SnapshotOptions {
  std::string action;  // create, list, delete or diff
  std::string mountpoint;
  std::string name;
  std::string newer;  // diff: the second snapshot
  bool json = false;
  bool wait = false;  // delete: until the space is back
};

struct StatusOptions {
  std::string mountpoint;
  bool json = false;
  bool metrics = false;
  bool prometheus = false;
  double watch_seconds = 0;  // > 0: refresh every so many seconds
};

struct ConfigOptions {
  std::string action;  // list, get or set
  std::string key;
  std::string value;
  std::string mountpoint;
  bool persist = false;
};

struct DiskOptions {
  std::string action;  // list, add, remove or class
  std::string mountpoint;
  std::string disk;        // add: path; remove, class: index or path
  std::string disk_class;  // class: ssd, hdd or auto
  std::string size = "8G";
  bool force = false;
};

struct ImageOptions {
  std::string disk;
  std::string output;
  std::string used_ranges = "auto";  // auto or full
  std::string volume;                // for a dynamicfs disk
  uint64_t piece_size = 1 << 20;
  std::string hashes = "hybrid";  // hybrid (SHA-1 + SHA-256) or v1 (SHA-1 only)
  std::string name;
  std::vector<std::string> snapshot;  // MOUNTPOINT NAME: a volume snapshot image
};

struct ReplicateOptions {
  bool seed = false;
  std::string torrent;
  std::string device;  // --source or --target
  std::string volume;  // fetch of a volume snapshot image: the volume directory to make
  std::string listen = "0.0.0.0:6881";
  std::vector<std::string> peers;
  bool json = false;
  bool no_lsd = false;
  double seed_for = 60;  // fetch: serve peers still lacking pieces up to this long after completing
  double max_rate_mb = 0;  // MB/s limit of upload (seed) or download (fetch); 0 = none
};

// Lab sync (`replicate publish|follow|rollback|status`).
struct PublishOptions {
  std::string mountpoint;
  double every = 0;  // seconds between publishes; 0: only at start and on --now
  bool now = false;  // ask the running publisher to publish now
  int keep = 2;      // published snapshots kept and seeded
  std::string secret;
  std::string feed_listen = "0.0.0.0:8086";
  std::string peer_host = "0.0.0.0";  // where the seeds listen (ports chosen per snapshot)
  int piece_size = 256 << 10;
  bool json = false;
  bool no_lsd = false;
  double max_rate_mb = 0;
};

struct FollowOptions {
  std::string feed;
  std::string volume;
  std::string secret;
  std::string mount;           // keep this mountpoint on the current snapshot
  std::string mode = "kiosk";  // kiosk: mounted read-only; writable: local changes, replaced
  double poll = 10;
  std::string listen = "0.0.0.0:6881";
  std::string metrics_listen;
  bool once = false;  // apply the newest snapshot (if any) and exit
  bool json = false;
  bool no_lsd = false;
  double max_rate_mb = 0;
};

int cmd_publish(const PublishOptions& o);
int cmd_follow(const FollowOptions& o);
int cmd_follow_rollback(const std::string& volume);
int cmd_follow_status(const std::string& volume, bool json);
int cmd_lab_secret(const std::string& file);

int cmd_mkfs(const MkfsOptions& o);
int cmd_mount(const MountOptions& o);
int cmd_umount(const std::string& mountpoint);
int cmd_status(const StatusOptions& o);
int cmd_scrub(const std::string& mountpoint, double rate_mb);
int cmd_trim(const std::string& mountpoint, uint64_t minimum);
int cmd_locate(const std::vector<std::string>& paths, bool json);
// `policy set PATH POLICY` ("ec K+M", "replicas N" or "default") and
// `policy get PATH...`.
int cmd_policy_set(const std::string& path, const std::string& policy);
int cmd_policy_get(const std::vector<std::string>& paths, bool json);
// The mountpoint holding PATH (on device DEV): its highest ancestor on DEV.
std::string mount_root(const std::string& path, dev_t dev);
// A control connection to the mount holding PATH, a regular file (or, with
// dirs_too, a directory), and PATH's inode; errors name PATH.
struct PathTarget {
  std::unique_ptr<ControlClient> client;
  uint64_t ino = 0;
};
Result<PathTarget> connect_for_path(const std::string& path, bool dirs_too);
// Exit codes as e2fsck: 0 clean, 1 errors corrected, 4 errors left, 8 error.
int cmd_fsck(const std::string& volume_dir, bool repair, const std::string& snapshot);
int cmd_snapshot(const SnapshotOptions& o);
// mount(8)/umount(8) helpers (argv[0] mount.dynamicfs etc.); mount(8)'s exit
// statuses: 0, 1 usage, 32 failure.
int mount_helper(int argc, char** argv);
int umount_helper(int argc, char** argv);
// Runs the volume NAME of /etc/dynamicfs/NAME.toml in the foreground
// (dynamicfs@NAME.service).
int cmd_service(const std::string& name);
// Tests only: a simulated power cut of a daemon with fault injection on.
int cmd_power_loss(const std::string& mountpoint, uint64_t seed);
// Tests only: arms a crash point (src/common/crash_point.h).
int cmd_crash_point(const std::string& mountpoint, const std::string& name);
int cmd_config(const ConfigOptions& o);
int cmd_disk(const DiskOptions& o);
int cmd_image_create(const ImageOptions& o);
int cmd_replicate(const ReplicateOptions& o);
int cmd_log_level(const std::string& level, const std::string& mountpoint);

// "8G", "512M", "1T", "4096" -> bytes; 0 on malformed input.
uint64_t parse_size(const std::string& s);
// Prints "dynamicfs: MESSAGE" on stderr and returns 1.
int fail(const std::string& message);

}  // namespace dynamicfs

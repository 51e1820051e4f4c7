// Entry point of the `dynamicfs` binary: argument parsing and dispatch.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "src/cli/commands.h"

using namespace dynamicfs;

namespace {

// CLI11 answers --help before it checks that a subcommand exists, so
// `dynamicfs replicate frobnicate --help` would print replicate's help and
// exit 0. A word where a subcommand is due must name one: checked first.
// (Stops at the first option: what follows may be an option's value.)
std::string unknown_subcommand(CLI::App& app, int argc, char** argv) {
  CLI::App* cur = &app;
  const auto unknown = [&cur](const std::string& path, const std::string& word) {
    return path + ": unknown subcommand '" + word + "'\n" + cur->help();
  };
  std::string path = "dynamicfs";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') break;
    if (cur->get_subcommands([](CLI::App* a) { return !a->get_name().empty(); }).empty()) break;
    CLI::App* next = nullptr;
    try {
      next = cur->get_subcommand(word);
    } catch (const CLI::OptionNotFound&) {
    }
    if (next == nullptr) return unknown(path, word);
    path += " " + word;
    cur = next;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  // mount(8) and umount(8) run helpers by name: /sbin/mount.TYPE.
  const std::string self = std::filesystem::path(argv[0]).filename().string();
  if (self == "mount.dynamicfs" || self == "mount.fuse.dynamicfs") return mount_helper(argc, argv);
  if (self == "umount.dynamicfs" || self == "umount.fuse.dynamicfs")
    return umount_helper(argc, argv);
  CLI::App app{"dynamicfs - pool local disks into one POSIX filesystem (FUSE)", "dynamicfs"};
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);
  app.set_version_flag("--version", "dynamicfs 0.1.0");
  app.footer(
      "Exit status: 0 on success, 1 on failure (with one line on stderr), 2 on usage errors.\n"
      "Run 'dynamicfs SUBCOMMAND --help' for the options of each subcommand.");

  MkfsOptions mkfs;
  auto* c_mkfs =
      app.add_subcommand("mkfs", "Create a volume over one or more disks (block devices or files)");
  c_mkfs->add_option("--volume", mkfs.volume, "Volume directory (config, metadata, logs)")
      ->required();
  c_mkfs
      ->add_option(
          "--disk", mkfs.disks,
          "Disk: a block device, or a file (created sparse at --size if absent); repeat for more")
      ->required();
  c_mkfs
      ->add_option("--size", mkfs.size, "Size of disk files that do not exist yet (e.g. 8G, 512M)")
      ->capture_default_str();
  c_mkfs
      ->add_option("--replicas", mkfs.replicas,
                   "Copies of every extent, each on its own disk (1-3; default 1 with one "
                   "disk, 2 with more)")
      ->check(CLI::Range(1, 3));
  c_mkfs
      ->add_option("--class", mkfs.classes,
                   "Tiering class of each disk in --disk order: ssd, hdd or auto (from the\n"
                   "device; the default); repeat, one per disk")
      ->check(CLI::IsMember({"ssd", "hdd", "auto"}));
  c_mkfs->add_flag("--force", mkfs.force,
                   "Overwrite disks that hold a filesystem or another volume");

  MountOptions mount;
  auto* c_mount = app.add_subcommand(
      "mount", "Mount a volume; returns once it is mounted (daemon in background)");
  c_mount->add_option("--volume", mount.volume, "Volume directory created by mkfs")->required();
  c_mount->add_option("mountpoint", mount.mountpoint, "Empty directory to mount on")->required();
  c_mount->add_flag("-f,--foreground", mount.foreground,
                    "Stay in the foreground and log to stderr too");
  c_mount
      ->add_option("-o", mount.fuse_options,
                   "Mount options, comma separated: FUSE options (e.g. ro) and dynamicfs\n"
                   "settings (see `dynamicfs config list`): group_commit=on|off,\n"
                   "commit_max_batch_ops=N, commit_max_delay_us=N, io_workers=N (per disk;\n"
                   "0 = from the device type), sync_interval_ms=N, scrub_rate_mb=N,\n"
                   "scrub_interval=S (automatic scrubs; 0 = off), discard=on|off,\n"
                   "journal_max_kb=N (small writes' data also in the WAL; 0 = off),\n"
                   "extent_cache_mb=N (file data cache; 0 = off), metadata_cache_mb=N,\n"
                   "entry_timeout=S and attr_timeout=S (kernel cache, default 10 s),\n"
                   "writeback_cache=on|off, log_level=LEVEL, metrics_listen=[HOST:]PORT\n"
                   "(Prometheus /metrics over HTTP; loopback unless HOST is given)")
      ->delimiter(',');
  c_mount->add_option("--threads", mount.threads, "Maximum FUSE worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  c_mount->add_option("--snapshot", mount.snapshot,
                      "Mount this snapshot of the volume read-only (the live volume may be\n"
                      "mounted at the same time; the snapshot cannot be deleted meanwhile)");

  std::string umount_mp;
  auto* c_umount =
      app.add_subcommand("umount", "Flush, commit and unmount; waits for the daemon to exit");
  c_umount->add_option("mountpoint", umount_mp, "Mounted dynamicfs directory")->required();

  StatusOptions status;
  std::string watch_arg;  // a string: a vector would also swallow the mountpoint
  auto* c_status = app.add_subcommand(
      "status", "Show health, space, disks, activity and latency of a mounted volume");
  c_status->add_option("mountpoint", status.mountpoint, "Mounted dynamicfs directory");
  auto* f_metrics =
      c_status->add_flag("--metrics", status.metrics, "List every metric, grouped by subsystem");
  auto* f_json = c_status->add_flag(
      "--json", status.json,
      "Print the summary and every metric as one JSON document (fields in docs/observability.md)");
  auto* f_prom = c_status->add_flag("--prometheus", status.prometheus,
                                    "Print every metric in Prometheus text exposition format");
  f_metrics->excludes(f_json)->excludes(f_prom);
  f_json->excludes(f_prom);
  auto* o_watch = c_status
                      ->add_option("--watch", watch_arg,
                                   "Refresh every SECS seconds (default 2) until Ctrl-C; redraws "
                                   "in place on a terminal")
                      ->expected(0, 1)
                      ->type_name("[SECS]");
  c_status->footer(
      "The summary shows the volume, uptime, health, space, per-disk state, size, use, queue\n"
      "depth and read/write rates, FUSE ops/s with p50/p99 latency of the busiest operations\n"
      "(last 10 s), group commit, lock, scrub and replication activity.\n"
      "Exit status: 0 on success; 1 if the path is not a dynamicfs mount or its daemon does\n"
      "not answer within 2 s (stopped, hung or gone), with one line on stderr.");

  ConfigOptions config;
  auto* c_config = app.add_subcommand(
      "config", "Show or change the live settings of a mounted volume (no remount needed)");
  c_config->require_subcommand(1);
  auto* c_config_list = c_config->add_subcommand("list", "List every setting with its value");
  c_config_list->add_option("mountpoint", config.mountpoint, "Mounted dynamicfs directory")
      ->required();
  auto* c_config_get = c_config->add_subcommand("get", "Print the value of one setting");
  c_config_get->add_option("key", config.key, "Setting name (see `config list`)")->required();
  c_config_get->add_option("mountpoint", config.mountpoint, "Mounted dynamicfs directory")
      ->required();
  auto* c_config_set =
      c_config->add_subcommand("set", "Change a setting at once; --persist also saves it");
  c_config_set->add_option("key", config.key, "Setting name (see `config list`)")->required();
  c_config_set->add_option("value", config.value, "New value")->required();
  c_config_set->add_option("mountpoint", config.mountpoint, "Mounted dynamicfs directory")
      ->required();
  c_config_set->add_flag("--persist", config.persist,
                         "Also store the value in the volume's volume.toml ([settings]) so the "
                         "next mount uses it");
  c_config->footer(
      "Settings: io_workers, group_commit, commit_max_batch_ops, commit_max_delay_us,\n"
      "sync_interval_ms, discard, journal_max_kb, scrub_rate_mb, scrub_interval,\n"
      "extent_cache_mb, tiering, tier_high_water, tier_low_water, tier_hot_seconds,\n"
      "tier_interval_ms, metadata_cache_mb, entry_timeout, attr_timeout, log_level (live)\n"
      "and metrics_listen (at mount). The same names work as mount -o KEY=VALUE and in\n"
      "the [settings] table of volume.toml.");

  std::string log_level, log_level_mp;
  auto* c_log = app.add_subcommand("log-level", "Change the daemon's log level at run time");
  c_log->add_option("level", log_level, "trace, debug, info, warn, error, critical or off")
      ->required();
  c_log->add_option("mountpoint", log_level_mp, "Mounted dynamicfs directory")->required();

  std::string scrub_mp;
  double scrub_rate = -1;
  auto* c_scrub = app.add_subcommand(
      "scrub", "Read and verify every extent of a mounted volume (Background I/O priority)");
  c_scrub->add_option("mountpoint", scrub_mp, "Mounted dynamicfs directory")->required();
  c_scrub
      ->add_option("--rate", scrub_rate,
                   "Limit in MB/s (0 = unlimited; default: the scrub_rate_mb setting)")
      ->check(CLI::NonNegativeNumber);
  c_scrub->footer(
      "Bad blocks with a good copy elsewhere are rewritten from it. Exit status: 0 when\n"
      "every block verified or was repaired, 1 when damage is left (no good copy, or\n"
      "unreadable copies).");

  std::vector<std::string> locate_paths;
  bool locate_json = false;
  auto* c_locate =
      app.add_subcommand("locate", "Show where a file's extents live: disk, offset and class");
  c_locate->add_option("path", locate_paths, "Files on a dynamicfs mount")->required();
  c_locate->add_flag("--json", locate_json, "One JSON array of {path, extents} on stdout");

  std::string policy_path, policy_ec;
  unsigned policy_replicas = 0;
  bool policy_default = false, policy_json = false;
  std::vector<std::string> policy_paths;
  auto* c_policy = app.add_subcommand(
      "policy", "Set or show how files' data is kept: N copies, or erasure coded K+M");
  c_policy->require_subcommand(1);
  auto* c_policy_set = c_policy->add_subcommand(
      "set", "Set the data policy of a file, or of a directory and everything below it");
  c_policy_set->add_option("path", policy_path, "File or directory on a dynamicfs mount")
      ->required();
  auto* o_ec = c_policy_set->add_option(
      "--ec", policy_ec, "Reed-Solomon K data + M parity units on K+M distinct disks (e.g. 4+2)");
  auto* o_rep =
      c_policy_set->add_option("--replicas", policy_replicas, "N full copies on distinct disks")
          ->check(CLI::Range(1, 8));
  auto* o_def =
      c_policy_set->add_flag("--default", policy_default, "The volume's replica count (mkfs)");
  o_ec->excludes(o_rep)->excludes(o_def);
  o_rep->excludes(o_def);
  c_policy_set->footer(
      "Exactly one of --ec, --replicas, --default. New files and directories take their\n"
      "directory's policy. Existing files below PATH are converted in the background at\n"
      "Background I/O priority (progress in `dynamicfs status`). Under --ec K+M, pieces\n"
      "shorter than K x 16 KiB (small files, tails of writes) are kept as M+1 copies, so\n"
      "every piece survives the loss of any M disks; with fewer than K+M writable disks,\n"
      "data is kept as M+1 copies until disks are added. A mount tolerates missing disks\n"
      "by the volume's replica count: give the volume at least M+1 (mkfs --replicas).");
  auto* c_policy_get =
      c_policy->add_subcommand("get", "Show the data policy new data of a path gets");
  c_policy_get->add_option("path", policy_paths, "Files or directories on a dynamicfs mount")
      ->required();
  c_policy_get->add_flag("--json", policy_json, "One JSON array of {path, policy, effective}");

  std::string trim_mp;
  uint64_t trim_min = 4096;
  auto* c_trim = app.add_subcommand(
      "trim", "Discard all free space of a mounted volume's disks now (like fstrim)");
  c_trim->add_option("mountpoint", trim_mp, "Mounted dynamicfs directory")->required();
  c_trim
      ->add_option("-m,--minimum", trim_min,
                   "Skip free ranges shorter than this many bytes (rounded up to 4096)")
      ->capture_default_str();
  c_trim->footer(
      "Block devices get BLKDISCARD, disk files get holes punched (their blocks go back to\n"
      "the file system under them). Space freed while mounted is discarded anyway, in\n"
      "batches, unless the discard setting is off. Exit status 0 on success, 1 when no disk\n"
      "supports discard or the daemon is unreachable.");

  DiskOptions disk;
  auto* c_disk = app.add_subcommand(
      "disk", "List, add or remove the disks of a mounted volume, or set their tiering class");
  c_disk->require_subcommand(1);
  auto* c_disk_list = c_disk->add_subcommand("list", "List the disks with their state and use");
  auto* c_disk_add = c_disk->add_subcommand(
      "add", "Add a disk to the pool and give extents that lost copies their copies back");
  auto* c_disk_remove = c_disk->add_subcommand(
      "remove", "Move every copy off a disk (Background priority), then take it out");
  auto* c_disk_class = c_disk->add_subcommand(
      "class", "Set a disk's tiering class: ssd (new and hot data), hdd, or auto");
  for (auto* c : {c_disk_list, c_disk_add, c_disk_remove, c_disk_class})
    c->add_option("mountpoint", disk.mountpoint, "Mounted dynamicfs directory")->required();
  c_disk_add
      ->add_option("disk", disk.disk,
                   "Block device, or a file (created sparse at --size if absent)")
      ->required();
  c_disk_add->add_option("--size", disk.size, "Size of a disk file that does not exist yet")
      ->capture_default_str();
  c_disk_add->add_flag("--force", disk.force,
                       "Use a disk that holds a filesystem or another volume");
  c_disk_remove->add_option("disk", disk.disk, "Disk index or path (see `disk list`)")->required();
  c_disk_class->add_option("disk", disk.disk, "Disk index or path (see `disk list`)")->required();
  c_disk_class
      ->add_option("class", disk.disk_class,
                   "ssd, hdd, or auto (hdd for a rotational device, else ssd); recorded in\n"
                   "volume.toml")
      ->required()
      ->check(CLI::IsMember({"ssd", "hdd", "auto"}));
  c_disk->footer(
      "remove refuses, changing nothing, when the other online disks are fewer than the\n"
      "volume's copy count or lack the space; a failed disk can be removed once every\n"
      "extent has copies elsewhere (add its replacement first). Progress is drawn on a\n"
      "terminal and shown by `dynamicfs status`. Exit status 0 on success, 1 otherwise.");

  // Hidden: fault injection for the crash tests.
  std::string debug_mp;
  uint64_t debug_seed = 0;
  auto* c_debug = app.add_subcommand("debug", "Test-only fault injection")->group("");
  auto* c_power = c_debug->add_subcommand(
      "power-loss",
      "Undo a random subset of unsynced disk writes and kill the daemon (needs a daemon\n"
      "started with DYNAMICFS_FAULT_INJECTION=1)");
  c_power->add_option("mountpoint", debug_mp, "Mounted dynamicfs directory")->required();
  c_power->add_option("--seed", debug_seed, "Which unsynced writes are lost");
  std::string crash_name;
  auto* c_crash = c_debug->add_subcommand(
      "crash-point",
      "Arm a named crash point: the daemon kills itself the next time it passes there\n"
      "(needs DYNAMICFS_FAULT_INJECTION=1)");
  c_crash->add_option("mountpoint", debug_mp, "Mounted dynamicfs directory")->required();
  c_crash->add_option("name", crash_name, "e.g. rename.before_commit")->required();

  SnapshotOptions snap;
  auto* c_snap = app.add_subcommand(
      "snapshot", "Create, list, delete and compare consistent snapshots of a mounted volume");
  c_snap->require_subcommand(1);
  auto* c_snap_create = c_snap->add_subcommand(
      "create", "Snapshot every file at one instant, online; no data is copied");
  auto* c_snap_list =
      c_snap->add_subcommand("list", "List snapshots with the space each references and holds");
  auto* c_snap_delete = c_snap->add_subcommand(
      "delete", "Delete a snapshot; the space only it held is freed in the background");
  auto* c_snap_diff = c_snap->add_subcommand(
      "diff", "Files added, removed and changed from OLD to NEW, and NEW's new disk ranges");
  for (auto* c : {c_snap_create, c_snap_list, c_snap_delete, c_snap_diff})
    c->add_option("mountpoint", snap.mountpoint, "Mounted dynamicfs directory")->required();
  for (auto* c : {c_snap_create, c_snap_delete})
    c->add_option("name", snap.name, "Snapshot name: letters, digits, '.', '_', '-'")->required();
  c_snap_delete->add_flag("--wait", snap.wait, "Return once the space is given back");
  c_snap_diff->add_option("old", snap.name, "The older snapshot")->required();
  c_snap_diff->add_option("new", snap.newer, "The newer snapshot")->required();
  for (auto* c : {c_snap_list, c_snap_diff}) c->add_flag("--json", snap.json, "Print JSON");
  c_snap->footer(
      "A snapshot shares the volume's extents (reference counted; later writes go\n"
      "elsewhere, as every write does), so creating one copies no data and pauses\n"
      "metadata commits for one memtable flush. Read it with\n"
      "`dynamicfs mount --volume DIR --snapshot NAME MOUNTPOINT` (read-only). In\n"
      "`list`, REFERENCED is the disk space its extents point at (all copies) and UNIQUE\n"
      "what only it holds: what deleting it gives back. Delete refuses (EBUSY) a\n"
      "snapshot that is mounted or being seeded. diff --json lists, per disk, the byte\n"
      "ranges NEW references that OLD does not. Exit status 0 on success, 1 otherwise.");

  std::string service_name;
  auto* c_service = app.add_subcommand(
      "service", "Run the volume NAME of /etc/dynamicfs/NAME.toml in the foreground (for systemd)");
  c_service->add_option("name", service_name, "Volume name: the file /etc/dynamicfs/NAME.toml")
      ->required();
  c_service->footer(
      "NAME.toml gives mountpoint (required), volume (default /var/lib/dynamicfs/NAME),\n"
      "options (a list of mount -o options) and a [settings] table. The mountpoint is\n"
      "created if missing, and a stale mount whose daemon died is detached first. The\n"
      "daemon tells systemd when it is mounted (sd_notify READY=1) and unmounts, flushes\n"
      "and exits 0 on SIGTERM. DYNAMICFS_CONFIG_DIR replaces /etc/dynamicfs.");

  std::string fsck_volume;
  std::string fsck_snapshot;
  bool fsck_repair = false;
  auto* c_fsck = app.add_subcommand(
      "fsck", "Check an unmounted volume's metadata against its space, and repair it");
  c_fsck->add_option("--volume", fsck_volume, "Volume directory (must not be mounted)")->required();
  c_fsck->add_option("--snapshot", fsck_snapshot,
                     "Check this snapshot's metadata instead (read-only; the volume may be\n"
                     "mounted)");
  c_fsck->add_flag("--repair", fsck_repair,
                   "Fix what can be fixed: drop dangling entries, correct link counts and\n"
                   "allocated sizes, reconnect unreachable inodes under /lost+found, drop\n"
                   "extents of missing files, and drop a space checkpoint that disagrees\n"
                   "with the extent map (the next mount rebuilds it)");
  c_fsck->footer(
      "Checks: directory entries against inodes, link counts, directory parents,\n"
      "reachability, extents (owner, disk bounds, overlap, past end of file),\n"
      "allocated sizes, space used twice or leaked, shared-extent reference counts.\n"
      "Exit status (as e2fsck): 0 clean, 1 errors corrected, 4 errors left\n"
      "uncorrected, 8 operational error (e.g. the volume is mounted).");

  ImageOptions image;
  auto* c_image = app.add_subcommand("image", "Make torrents of disk images for `replicate`");
  c_image->require_subcommand(1);
  auto* c_image_create = c_image->add_subcommand(
      "create", "Hash a raw disk or disk file into a v1+v2 torrent of its used ranges");
  auto* o_image_disk =
      c_image_create->add_option("--disk", image.disk, "Block device or disk file to image");
  auto* o_image_snap =
      c_image_create
          ->add_option("--snapshot", image.snapshot,
                       "MOUNTPOINT NAME: a volume snapshot image (every disk's ranges the\n"
                       "snapshot uses plus its metadata), for `replicate fetch --volume`")
          ->expected(2);
  o_image_disk->excludes(o_image_snap);
  c_image_create->add_option("-o,--output", image.output, "The .torrent file to write")->required();
  c_image_create
      ->add_option("--used-ranges", image.used_ranges,
                   "auto: only what is in use (a dynamicfs disk's extents with --volume, an\n"
                   "ext2/3/4 filesystem's used blocks, else everything); full: the whole disk")
      ->check(CLI::IsMember({"auto", "full"}))
      ->capture_default_str();
  c_image_create->add_option("--volume", image.volume,
                             "Volume directory of a dynamicfs disk (to read its allocation);\n"
                             "default: the mounted volume or /var/lib/dynamicfs/* listing it");
  c_image_create
      ->add_option("--piece-size", image.piece_size,
                   "Piece size in bytes, a power of two >= 16384; smaller pieces make delta\n"
                   "fetches finer")
      ->capture_default_str();
  c_image_create
      ->add_option("--hashes", image.hashes,
                   "hybrid: SHA-1 pieces and SHA-256 block trees (v1+v2; receivers check both);\n"
                   "v1: SHA-1 pieces only, each piece hashed once (less CPU per byte)")
      ->check(CLI::IsMember({"hybrid", "v1"}))
      ->capture_default_str();
  c_image_create->add_option("--name", image.name, "Torrent name (default: the disk's file name)");
  c_image_create->footer(
      "Files in the torrent are named by their byte offset on the disk in hex (EZIO's\n"
      "convention), so EZIO-made torrents can be fetched too. A snapshot image names\n"
      "offsets in one space where disk N starts at N << 48 and the metadata at 64 << 48;\n"
      "its ranges are cut at piece boundaries, so a newer snapshot's image fetched onto\n"
      "a volume made from an older one sends only the pieces that changed.");

  ReplicateOptions repl;
  auto* c_repl = app.add_subcommand(
      "replicate", "Serve or fetch a disk image over BitTorrent on the LAN (many peers at once)");
  c_repl->require_subcommand(1);
  auto* c_seed = c_repl->add_subcommand("seed", "Serve a disk image until interrupted");
  auto* c_fetch = c_repl->add_subcommand(
      "fetch", "Fetch a disk image onto a device or file; exits 0 once every piece is verified");
  for (auto* c : {c_seed, c_fetch}) {
    c->add_option("torrent", repl.torrent, "Torrent made by `image create` (or EZIO)")->required();
    c->add_option("--listen", repl.listen, "ADDRESS:PORT to accept peers on (port 0: any)")
        ->capture_default_str();
    c->add_option("--peer", repl.peers, "HOST:PORT of a peer to connect to (repeatable)");
    c->add_flag("--json", repl.json, "One JSON progress line per second on stdout");
    c->add_option("--max-rate", repl.max_rate_mb,
                  "Limit in MB/s of what this peer sends (seed) or receives (fetch); 0 = none")
        ->check(CLI::NonNegativeNumber);
    c->add_flag("--no-lsd", repl.no_lsd,
                "Do not announce or look for peers with local service discovery (multicast)");
  }
  c_seed
      ->add_option("--source", repl.device,
                   "Block device or disk file holding the image; for a volume snapshot\n"
                   "image, the volume's mountpoint or directory")
      ->required();
  auto* o_fetch_target = c_fetch->add_option(
      "--target", repl.device, "Block device or disk file to write (a missing file is created)");
  auto* o_fetch_volume = c_fetch->add_option(
      "--volume", repl.volume,
      "For a volume snapshot image: the volume directory to make (or to update from an\n"
      "older snapshot of the same volume; it must not be mounted)");
  o_fetch_target->excludes(o_fetch_volume);
  c_fetch
      ->add_option("--seed-for", repl.seed_for,
                   "After completing, keep serving peers that still lack pieces for at most\n"
                   "this many seconds (it exits as soon as none does; 0: exit at once)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // Lab sync.
  PublishOptions pub;
  auto* c_publish = c_repl->add_subcommand(
      "publish",
      "Publish snapshots of a mounted volume to followers (runs until stopped;\n"
      "--now asks the running publisher for a new snapshot)");
  c_publish->add_option("mountpoint", pub.mountpoint, "The mounted volume to publish")->required();
  auto* o_every = c_publish
                      ->add_option("--every", pub.every,
                                   "Publish a new snapshot every this many seconds (besides\n"
                                   "the first one at start and each --now)")
                      ->check(CLI::PositiveNumber);
  auto* o_now = c_publish->add_flag(
      "--now", pub.now,
      "Ask the publisher running for MOUNTPOINT to publish a snapshot now; returns once\n"
      "it is seeded and in the feed");
  o_every->excludes(o_now);
  c_publish
      ->add_option("--keep", pub.keep,
                   "Published snapshots kept and seeded (older ones are deleted)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  c_publish->add_option("--secret", pub.secret,
                        "File holding the lab's shared secret (mode 0600; see `replicate secret`)");
  c_publish->add_option("--feed-listen", pub.feed_listen, "[HOST:]PORT of the HTTP feed")
      ->capture_default_str();
  c_publish
      ->add_option("--peer-host", pub.peer_host,
                   "Address the snapshots' seeds listen on (each on a free port the feed names)")
      ->capture_default_str();
  c_publish->add_option("--piece-size", pub.piece_size, "Torrent piece size (a power of two)")
      ->capture_default_str();
  c_publish->add_flag("--json", pub.json, "One JSON line per event on stdout");
  c_publish->add_flag("--no-lsd", pub.no_lsd, "No local service discovery (multicast)");
  c_publish->add_option("--max-rate", pub.max_rate_mb, "Limit in MB/s of what each seed sends")
      ->check(CLI::NonNegativeNumber);
  c_publish->footer(
      "The feed (GET /feed, /torrents/N) answers only requests signed with the shared\n"
      "secret, and signs its answers; GET /metrics is open. Snapshots are named\n"
      "publish-N; N (the generation) only grows, across restarts too.");

  FollowOptions follow;
  auto* c_follow = c_repl->add_subcommand(
      "follow", "Keep a volume on the newest snapshot a publisher publishes (runs until stopped)");
  c_follow->add_option("feed", follow.feed, "The publisher's feed, http://HOST:PORT[/feed]")
      ->required();
  c_follow
      ->add_option("--volume", follow.volume,
                   "Follower directory: two volume slots, the current one and the next")
      ->required();
  c_follow->add_option("--secret", follow.secret, "File holding the lab's shared secret")
      ->required();
  c_follow->add_option("--mount", follow.mount,
                       "Keep this mountpoint on the current snapshot (remounted at each switch)");
  c_follow
      ->add_option("--mode", follow.mode,
                   "kiosk: the mount is read-only; writable: local changes allowed, replaced\n"
                   "by the next snapshot (kept in the previous slot until the fetch after)")
      ->capture_default_str();
  c_follow->add_option("--poll", follow.poll, "Seconds between feed reads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c_follow->add_option("--listen", follow.listen, "ADDRESS:PORT for peers (port 0: any)")
      ->capture_default_str();
  c_follow->add_option("--metrics-listen", follow.metrics_listen,
                       "[HOST:]PORT to serve Prometheus /metrics on");
  c_follow->add_flag("--once", follow.once,
                     "Bring the volume to the newest published snapshot and exit");
  c_follow->add_flag("--json", follow.json, "One JSON line per event and per second of a fetch");
  c_follow->add_flag("--no-lsd", follow.no_lsd, "No local service discovery (multicast)");
  c_follow->add_option("--max-rate", follow.max_rate_mb, "Limit in MB/s of what it receives")
      ->check(CLI::NonNegativeNumber);
  c_follow->footer(
      "A new snapshot is fetched into the spare slot (refilled from the current one, so\n"
      "only changed pieces travel) and becomes current only once every piece is verified.\n"
      "An interrupted fetch resumes at the next start. SIGUSR1 reads the feed at once.");

  std::string follower_dir;
  bool follower_json = false;
  auto* c_rollback = c_repl->add_subcommand(
      "rollback", "Make a follower's previous snapshot current again (and remount it)");
  c_rollback->add_option("--volume", follower_dir, "Follower directory")->required();
  auto* c_fstatus =
      c_repl->add_subcommand("status", "Show a follower directory's snapshots and progress");
  c_fstatus->add_option("--volume", follower_dir, "Follower directory")->required();
  c_fstatus->add_flag("--json", follower_json, "One JSON document");
  std::string secret_file;
  auto* c_secret = c_repl->add_subcommand(
      "secret", "Write a new random shared secret for publish and follow (mode 0600)");
  c_secret->add_option("file", secret_file, "File to create (refused if it exists)")->required();

  const char* repl_footer =
      "No tracker, DHT, UPnP or NAT-PMP is used: peers come from local service discovery\n"
      "or --peer. An interrupted fetch resumes: pieces already on the target are checked,\n"
      "not sent again, and a target holding an older copy receives only changed pieces.\n"
      "Exit status of fetch: 0 only when every piece is verified on the target.";
  c_repl->footer(repl_footer);
  c_seed->footer(repl_footer);
  c_fetch->footer(repl_footer);

  if (std::string bad = unknown_subcommand(app, argc, argv); !bad.empty()) {
    std::cerr << bad << std::flush;
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*c_mkfs) return cmd_mkfs(mkfs);
  if (*c_mount) return cmd_mount(mount);
  if (*c_umount) return cmd_umount(umount_mp);
  if (*c_status) {
    if (o_watch->count() > 0) {
      const std::string& w = watch_arg;
      char* end = nullptr;
      double secs = w.empty() ? 2.0 : std::strtod(w.c_str(), &end);
      if (!w.empty() && (*end != '\0' || secs <= 0)) {
        // `status --watch /mnt`: the option took the mountpoint.
        if (!status.mountpoint.empty()) return fail("--watch takes a number of seconds");
        status.mountpoint = w;
        secs = 2.0;
      }
      status.watch_seconds = secs;
    }
    if (status.mountpoint.empty()) return fail("status: a MOUNTPOINT is required");
    return cmd_status(status);
  }
  if (*c_config) {
    config.action = *c_config_list ? "list" : *c_config_get ? "get" : "set";
    return cmd_config(config);
  }
  if (*c_log) return cmd_log_level(log_level, log_level_mp);
  if (*c_disk) {
    disk.action = *c_disk_list ? "list" : *c_disk_add ? "add" : *c_disk_class ? "class" : "remove";
    return cmd_disk(disk);
  }
  if (*c_image) return cmd_image_create(image);
  if (*c_repl) {
    if (*c_publish) {
      if (!pub.now && pub.secret.empty()) return fail("publish: --secret FILE is required");
      return cmd_publish(pub);
    }
    if (*c_follow) return cmd_follow(follow);
    if (*c_rollback) return cmd_follow_rollback(follower_dir);
    if (*c_fstatus) return cmd_follow_status(follower_dir, follower_json);
    if (*c_secret) return cmd_lab_secret(secret_file);
    repl.seed = c_seed->parsed();
    return cmd_replicate(repl);
  }
  if (*c_scrub) return cmd_scrub(scrub_mp, scrub_rate);
  if (*c_trim) return cmd_trim(trim_mp, trim_min);
  if (*c_locate) return cmd_locate(locate_paths, locate_json);
  if (*c_policy_set) {
    const int chosen =
        (policy_ec.empty() ? 0 : 1) + (policy_replicas ? 1 : 0) + (policy_default ? 1 : 0);
    if (chosen != 1) return fail("policy set: give exactly one of --ec, --replicas, --default");
    return cmd_policy_set(policy_path, !policy_ec.empty() ? "ec " + policy_ec
                                       : policy_replicas
                                           ? "replicas " + std::to_string(policy_replicas)
                                           : std::string("default"));
  }
  if (*c_policy_get) return cmd_policy_get(policy_paths, policy_json);
  if (*c_service) return cmd_service(service_name);
  if (*c_fsck) return cmd_fsck(fsck_volume, fsck_repair, fsck_snapshot);
  if (*c_snap) {
    snap.action = *c_snap_create   ? "create"
                  : *c_snap_list   ? "list"
                  : *c_snap_delete ? "delete"
                                   : "diff";
    return cmd_snapshot(snap);
  }
  if (*c_power) return cmd_power_loss(debug_mp, debug_seed);
  if (*c_crash) return cmd_crash_point(debug_mp, crash_name);
  return 2;
}

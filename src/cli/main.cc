// Entry point of the `dynamicfs` binary: argument parsing and dispatch.
#include <CLI/CLI.hpp>
#include <iostream>

#include "src/cli/commands.h"

using namespace dynamicfs;

int main(int argc, char** argv) {
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
                   "Copies of each extent (only 1 is implemented so far)")
      ->check(CLI::Range(1, 3));
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
                   "settings: group_commit=on|off, commit_max_batch_ops=N,\n"
                   "commit_max_delay_us=N, io_workers=N (per disk; 0 = from the device\n"
                   "type), sync_interval_ms=N, entry_timeout=S and attr_timeout=S\n"
                   "(kernel cache of names and attributes, default 10 s)")
      ->delimiter(',');
  c_mount->add_option("--threads", mount.threads, "Maximum FUSE worker threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));

  std::string umount_mp;
  auto* c_umount =
      app.add_subcommand("umount", "Flush, commit and unmount; waits for the daemon to exit");
  c_umount->add_option("mountpoint", umount_mp, "Mounted dynamicfs directory")->required();

  StatusOptions status;
  auto* c_status =
      app.add_subcommand("status", "Show volume, disks, space and activity of a mounted volume");
  c_status->add_option("mountpoint", status.mountpoint, "Mounted dynamicfs directory")->required();
  c_status->add_flag("--json", status.json, "Print the status as one JSON document");

  std::string scrub_mp;
  double scrub_rate = 0;
  auto* c_scrub = app.add_subcommand(
      "scrub", "Read and verify every extent of a mounted volume (Background I/O priority)");
  c_scrub->add_option("mountpoint", scrub_mp, "Mounted dynamicfs directory")->required();
  c_scrub->add_option("--rate", scrub_rate, "Limit in MB/s (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  c_scrub->footer(
      "Exit status: 0 when every block verified, 1 when corruption or read errors were found.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*c_mkfs) return cmd_mkfs(mkfs);
  if (*c_mount) return cmd_mount(mount);
  if (*c_umount) return cmd_umount(umount_mp);
  if (*c_status) return cmd_status(status);
  if (*c_scrub) return cmd_scrub(scrub_mp, scrub_rate);
  return 2;
}

// `dynamicfs image create`: the torrent of a raw disk or disk file, with only
// its used ranges (a dynamicfs disk's allocated extents, an ext2/3/4
// filesystem's used blocks) or the whole disk.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "src/cli/commands.h"
#include "src/cli/progress_line.h"
#include "src/cli/target_guard.h"
#include "src/control/control_client.h"
#include "src/extent/volume_config.h"
#include "src/io/disk.h"
#include "src/replication/image_torrent.h"
#include "src/replication/used_ranges.h"
#include "src/replication/volume_image.h"

namespace dynamicfs {

namespace {

// `image create --snapshot MOUNTPOINT NAME`: the volume is found from its
// mount (or MOUNTPOINT may be the volume directory itself).
int create_snapshot_image(const ImageOptions& o) {
  if (!o.disk.empty()) return fail("give either --disk or --snapshot, not both");
  std::string volume;
  auto mount = ControlClient::find_mount(o.snapshot[0]);
  if (mount.is_ok()) {
    volume = mount->volume_dir;
  } else if (::access(VolumeConfig::file_path(o.snapshot[0]).c_str(), R_OK) == 0) {
    volume = o.snapshot[0];
  } else {
    return fail(mount.status().message());
  }
  std::error_code ec;
  volume = std::filesystem::absolute(volume, ec).lexically_normal().string();
  if (::access(VolumeConfig::file_path(volume).c_str(), R_OK) != 0)
    return fail(o.snapshot[0] + " is a snapshot mount; give the live volume's mountpoint");
  ProgressLine bar;
  VolumeImageSpec spec;
  auto info = VolumeImage::create(
      volume, o.snapshot[1], static_cast<int>(o.piece_size), o.output,
      [&bar](int done, int total) {
        bar.update(total ? static_cast<double>(done) / total : 1.0,
                   "hashing piece " + std::to_string(done) + " of " + std::to_string(total));
      },
      &spec);
  bar.done();
  if (!info.is_ok()) return fail(info.status().message());
  size_t disks = 0;
  for (const auto& d : spec.disks) disks += d.removed ? 0 : 1;
  std::printf(
      "%s: snapshot %s of volume %s: %llu bytes on %zu disk(s) plus %llu bytes of "
      "metadata, %d ranges, %d pieces of %lld KiB\n",
      o.output.c_str(), o.snapshot[1].c_str(), volume.c_str(),
      static_cast<unsigned long long>(info->data_bytes - spec.pack_size), disks,
      static_cast<unsigned long long>(spec.pack_size), info->files, info->pieces,
      static_cast<long long>(o.piece_size / 1024));
  std::printf("info hash v1 %s\ninfo hash v2 %s\n", info->info_hash_v1.c_str(),
              info->info_hash_v2.c_str());
  return 0;
}

}  // namespace

int cmd_image_create(const ImageOptions& o) {
  if (!o.snapshot.empty()) return create_snapshot_image(o);
  if (o.disk.empty())
    return fail("give --disk DEVICE (a disk image) or --snapshot MOUNTPOINT NAME");
  auto disk = Disk::open_read_only(o.disk);
  if (!disk.is_ok()) return fail(disk.status().message());
  uint64_t disk_size = disk.value()->size();
  disk.value().reset();
  Result<std::vector<ByteRange>> ranges = Status::error(EINVAL, "unknown --used-ranges");
  std::string how;
  if (o.used_ranges == "full") {
    ranges = UsedRanges::full(o.disk);
    how = "whole disk";
  } else if (o.used_ranges == "auto") {
    auto content = UsedRanges::detect(o.disk);
    if (!content.is_ok()) return fail(content.status().message());
    switch (content.value()) {
      case DiskContent::kDynamicfs: {
        std::string volume = o.volume.empty() ? TargetGuard::volume_of(o.disk) : o.volume;
        if (volume.empty()) {
          return fail(o.disk +
                      " is a dynamicfs disk of no volume found here: give --volume DIR (its "
                      "volume directory) to include only allocated extents, or --used-ranges full");
        }
        ranges = UsedRanges::dynamicfs_used(o.disk, volume);
        how = "allocated extents of a disk of volume " + volume;
        break;
      }
      case DiskContent::kExt:
        ranges = UsedRanges::ext_used(o.disk);
        how = "used blocks of an ext2/3/4 filesystem";
        break;
      case DiskContent::kUnknown:
        ranges = UsedRanges::full(o.disk);
        how = "whole disk (no known filesystem)";
        break;
    }
  }
  if (!ranges.is_ok()) return fail(ranges.status().message());
  ImageTorrentOptions io;
  io.disk = o.disk;
  io.ranges = UsedRanges::normalize(std::move(ranges).value(), 16384, disk_size);
  io.piece_size = static_cast<int>(o.piece_size);
  io.v1_only = o.hashes == "v1";
  io.name = o.name;
  ProgressLine bar;
  io.progress = [&bar](int done, int total) {
    bar.update(total ? static_cast<double>(done) / total : 1.0,
               "hashing piece " + std::to_string(done) + " of " + std::to_string(total));
  };
  auto info = ImageTorrent::create(io, o.output);
  bar.done();
  if (!info.is_ok()) return fail(info.status().message());
  std::printf("%s: %s, %llu bytes in %d ranges, %d pieces of %lld KiB\n", o.output.c_str(),
              how.c_str(), static_cast<unsigned long long>(info->data_bytes), info->files,
              info->pieces, static_cast<long long>(o.piece_size / 1024));
  std::printf("info hash v1 %s\ninfo hash v2 %s\n", info->info_hash_v1.c_str(),
              info->info_hash_v2.c_str());
  return 0;
}

}  // namespace dynamicfs

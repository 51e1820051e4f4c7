// VolumeImage: a snapshot of a volume as a torrent, and a volume rebuilt
// from one on another machine. The image's regions (see ImageTarget) are
// the volume's disks (region = disk index) and the snapshot's metadata
// checkpoint packed into one file (region kMetaRegion). Of each disk only
// the superblock area and the ranges the snapshot's extents use are in the
// torrent, cut at piece-size boundaries of the disk: unchanged data stays in
// unchanged pieces at the same place, so fetching a newer snapshot onto a
// volume made from an older one transfers only changed pieces (libtorrent
// checks what the target holds first). The seeder reads the live disks: the
// snapshot's space is never rewritten while it exists, and it is held
// against deletion while seeded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/extent/snapshot_catalog.h"
#include "src/io/disk.h"
#include "src/io/superblock.h"
#include "src/replication/image_torrent.h"
#include "src/replication/used_ranges.h"

namespace dynamicfs {

// What a receiver needs to know to build the volume (stored in the torrent
// under ImageTorrent::kVolumeKey).
struct VolumeImageSpec {
  struct DiskEntry {
    uint32_t index = 0;
    Uuid uuid{};
    uint64_t size = 0;
    bool removed = false;
  };
  Uuid volume_uuid{};
  std::string snapshot;
  uint64_t snapshot_id = 0;
  int64_t snapshot_created_ns = 0;  // with the id, tells a re-made snapshot of the same name
  uint32_t replicas = 1;
  std::vector<DiskEntry> disks;
  uint64_t pack_size = 0;
  std::map<std::string, std::string> settings;

  std::string to_json() const;
  static Result<VolumeImageSpec> from_json(const std::string& text);
};

class VolumeImage {
 public:
  static constexpr uint32_t kMetaRegion = 64;

  // Writes the torrent of snapshot NAME of the volume in VOLUME_DIR (which
  // may be mounted) to OUT.
  static Result<ImageTorrentInfo> create(const std::string& volume_dir, const std::string& name,
                                         int piece_size, const std::string& out,
                                         const std::function<void(int, int)>& progress,
                                         VolumeImageSpec* spec_out);

  // Seeding: the region files of the source volume for SPEC; the snapshot
  // is held (not deletable) while *hold lives.
  static Result<std::map<uint32_t, std::string>> source_regions(
      const std::string& volume_dir, const VolumeImageSpec& spec,
      std::unique_ptr<SnapshotHold>* hold);

  // Fetching into DIR: a new volume directory (disk files created at their
  // sizes; *fresh) or one made from an earlier image of the same volume,
  // which must not be mounted. The disks stay locked while *holds live.
  static Result<std::map<uint32_t, std::string>> prepare_target(
      const std::string& dir, const VolumeImageSpec& spec, bool* fresh,
      std::vector<std::unique_ptr<Disk>>* holds);
  // Once every piece is verified: the fetched metadata replaces DIR/meta
  // and volume.toml names the local disks. The volume then mounts.
  static Status finish_target(const std::string& dir, const VolumeImageSpec& spec);

  // The pack: "DFSPACK1", a count, (name, size) per file, then the bytes.
  static Status pack(const std::string& from_dir, const std::string& out_file);
  static Status unpack(const std::string& pack_file, const std::string& out_dir);

  // Sorted ranges split at every multiple of PIECE (so no range crosses a
  // piece boundary of the disk).
  static std::vector<ByteRange> split_at(const std::vector<ByteRange>& ranges, uint64_t piece);
};

}  // namespace dynamicfs

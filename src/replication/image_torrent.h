// ImageTorrent: makes the .torrent of a disk image: one file per used range
// of the disk, named by its hex offset (EZIO's convention), hashed straight
// from the device through RawDiskIo, as a v1+v2 hybrid torrent.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/replication/used_ranges.h"

namespace dynamicfs {

struct ImageTorrentOptions {
  std::string disk;               // device or disk file
  std::vector<ByteRange> ranges;  // what to include (sorted, disjoint)
  int piece_size = 1 << 20;       // power of two, >= 16 KiB
  // SHA-1 pieces only (a receiver hashes each piece once), laid out as a
  // hybrid would be; default: v1+v2 hybrid (SHA-1 and SHA-256, both checked).
  bool v1_only = false;
  std::string name;  // torrent name; default: the disk's file name
  std::string comment;
  std::function<void(int done, int total)> progress;  // pieces hashed
  // A volume snapshot image: the regions the ranges lie in (`disk` is then
  // only a label), and the description stored under kVolumeKey.
  std::map<uint32_t, std::string> regions;
  std::string volume_spec;
};

struct ImageTorrentInfo {
  uint64_t data_bytes = 0;
  int files = 0;
  int pieces = 0;
  std::string info_hash_v1, info_hash_v2;
};

class ImageTorrent {
 public:
  // Top-level key (outside the info dictionary) holding the size of the
  // imaged disk, so a fetch creates a target file of the full size (a
  // filesystem's geometry reaches past its last used block).
  static constexpr const char* kDiskSizeKey = "x-dynamicfs-disk-size";
  // Top-level key of a volume snapshot image: its VolumeImage description
  // (JSON text).
  static constexpr const char* kVolumeKey = "x-dynamicfs-volume";
  // The volume description recorded in the torrent file, or "".
  static std::string recorded_volume_spec(const std::string& torrent_path);
  // The disk size recorded in the torrent file, or 0 (e.g. EZIO torrents).
  static uint64_t recorded_disk_size(const std::string& torrent_path);

  // Writes the torrent to `out_path` (atomically).
  static Result<ImageTorrentInfo> create(const ImageTorrentOptions& o, const std::string& out_path);
};

}  // namespace dynamicfs

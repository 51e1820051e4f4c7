// ImageLayout: where the bytes of a disk-image torrent live on the disk.
// Following EZIO's convention, every (non-pad) file of the torrent is one
// contiguous range of the disk and is named by its byte offset in hex
// ("0000000000100000" = 1 MiB); pad files (v2 and hybrid torrents) hold
// zeros that are never stored. A torrent whose names are not offsets, whose
// ranges overlap, or that reaches past the end of the target is refused
// before any byte is written.
#pragma once

#include <cstdint>
#include <libtorrent/file_storage.hpp>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

class ImageLayout {
 public:
  struct Segment {
    uint64_t disk_offset = 0;  // meaningless for pad segments
    uint32_t length = 0;
    bool pad = false;
    int file_index = -1;
  };

  static constexpr uint64_t kSector = 512;

  // Checks every file name and range of FILES: hex offsets, no overlap,
  // every range starting on a sector.
  static Result<ImageLayout> from_files(const lt::file_storage& files);
  // "%016llx" of OFFSET: the file name for a range starting there.
  static std::string file_name(uint64_t offset);
  // Parses the last path element as a hex offset.
  static Result<uint64_t> parse_file_name(std::string_view name);

  // The disk segments of [offset, offset + length) of PIECE, in order.
  std::vector<Segment> map(lt::piece_index_t piece, int offset, int length) const;
  // Where file INDEX (not a pad file) starts on the disk.
  uint64_t disk_offset(lt::file_index_t index) const {
    return m_disk_offset[static_cast<size_t>(static_cast<int>(index))];
  }
  // One past the last byte any file touches: the smallest usable target.
  uint64_t end_offset() const { return m_end; }
  // Bytes of real (non-pad) data.
  uint64_t data_bytes() const { return m_data_bytes; }
  const lt::file_storage& files() const { return *m_files; }

 private:
  const lt::file_storage* m_files = nullptr;
  std::vector<uint64_t> m_disk_offset;  // per file index; pad files: 0
  uint64_t m_end = 0;
  uint64_t m_data_bytes = 0;
};

}  // namespace dynamicfs

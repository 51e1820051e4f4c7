// ImageLayout: file-name parsing, validation and piece mapping.
#include "src/replication/image_layout.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace dynamicfs {

std::string ImageLayout::file_name(uint64_t offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, offset);
  return buf;
}

Result<uint64_t> ImageLayout::parse_file_name(std::string_view name) {
  auto slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  if (name.empty() || name.size() > 16)
    return Status::error(EINVAL, "file name '" + std::string(name) + "' is not a hex disk offset");
  uint64_t v = 0;
  for (char c : name) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return Status::error(EINVAL,
                           "file name '" + std::string(name) + "' is not a hex disk offset");
    }
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return v;
}

Result<ImageLayout> ImageLayout::from_files(const lt::file_storage& files) {
  ImageLayout layout;
  layout.m_files = &files;
  layout.m_disk_offset.assign(static_cast<size_t>(files.num_files()), 0);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (lt::file_index_t i : files.file_range()) {
    if (files.pad_file_at(i)) continue;
    auto name = files.file_path(i);
    DFS_ASSIGN_OR_RETURN(uint64_t off, parse_file_name(name));
    auto size = static_cast<uint64_t>(files.file_size(i));
    if (off + size < off) return Status::error(EINVAL, "file " + name + " overflows 64 bits");
    layout.m_disk_offset[static_cast<size_t>(static_cast<int>(i))] = off;
    layout.m_end = std::max(layout.m_end, off + size);
    layout.m_data_bytes += size;
    if (size > 0) ranges.emplace_back(off, size);
  }
  std::sort(ranges.begin(), ranges.end());
  // Disk images are made of sectors: a range that starts inside one is not
  // an image of a disk (a corrupt or foreign torrent).
  for (const auto& [off, size] : ranges) {
    if (off % kSector != 0) {
      return Status::error(EINVAL, "file " + file_name(off) + " (" + std::to_string(size) +
                                       " bytes) does not start on a 512-byte sector");
    }
  }
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].first + ranges[i - 1].second) {
      return Status::error(EINVAL, "files at disk offsets " + file_name(ranges[i - 1].first) +
                                       " and " + file_name(ranges[i].first) + " overlap");
    }
  }
  return layout;
}

std::vector<ImageLayout::Segment> ImageLayout::map(lt::piece_index_t piece, int offset,
                                                   int length) const {
  std::vector<Segment> out;
  if (length <= 0) return out;
  for (const auto& s : m_files->map_block(piece, offset, length)) {
    Segment seg;
    seg.file_index = static_cast<int>(s.file_index);
    seg.length = static_cast<uint32_t>(s.size);
    seg.pad = m_files->pad_file_at(s.file_index);
    if (!seg.pad) {
      seg.disk_offset =
          m_disk_offset[static_cast<size_t>(seg.file_index)] + static_cast<uint64_t>(s.offset);
    }
    out.push_back(seg);
  }
  return out;
}

}  // namespace dynamicfs

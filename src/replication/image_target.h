// ImageTarget: the bytes a disk-image torrent maps onto. For a raw disk
// that is the disk itself. A volume snapshot image spans several files (each
// disk of the volume and the packed metadata), so its byte space is cut into
// regions: region R starts at R << kRegionShift and is one file. A plain
// disk is region 0, so its offsets are unchanged. I/O never crosses a
// region; anything outside a region's file is refused (EINVAL).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/common/result.h"
#include "src/io/disk.h"

namespace dynamicfs {

class ImageTarget {
 public:
  static constexpr int kRegionShift = 48;  // 256 TiB per region
  static uint64_t region_base(uint32_t region) { return uint64_t{region} << kRegionShift; }

  // What opens the target named by a torrent's save path (RawDiskIo calls
  // it on first use, from its I/O threads).
  using Opener = std::function<Result<std::shared_ptr<ImageTarget>>(const std::string& save_path,
                                                                    bool writable)>;

  // One disk or disk file: region 0.
  static Result<std::shared_ptr<ImageTarget>> open_disk(const std::string& path, bool writable);
  // Region index -> file (each must exist).
  static Result<std::shared_ptr<ImageTarget>> open_regions(
      const std::map<uint32_t, std::string>& regions, bool writable);
  // An opener that ignores the save path and opens these regions.
  static Opener regions_opener(std::map<uint32_t, std::string> regions);

  Status read_at(void* buf, size_t len, uint64_t offset) const;
  Status write_at(const void* buf, size_t len, uint64_t offset) const;
  Status writev_at(const struct iovec* iov, int iovcnt, uint64_t offset) const;
  Status sync() const;
  // The size of region REGION's file (0 if there is none).
  uint64_t region_size(uint32_t region) const;
  // Whether [offset, offset + len) lies inside one region's file.
  bool contains(uint64_t offset, uint64_t len) const;
  std::string describe(uint64_t offset) const;  // "FILE at byte N", for errors

 private:
  // The region file holding [offset, offset + len), with *local set to the
  // offset inside it; null if there is none.
  const Disk* locate(uint64_t offset, uint64_t len, uint64_t* local) const;
  std::map<uint32_t, std::unique_ptr<Disk>> m_regions;
};

}  // namespace dynamicfs

// Superblock: the 4 KiB header at offset 0 of every pooled disk. It ties the
// disk to its volume (volume UUID, disk UUID, index) so that mount can refuse
// foreign, swapped or damaged disks before touching anything.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "src/common/block_size.h"
#include "src/common/result.h"
#include "src/io/disk.h"

namespace dynamicfs {

using Uuid = std::array<uint8_t, 16>;

std::string uuid_to_string(const Uuid& u);
Result<Uuid> uuid_from_string(const std::string& s);
Uuid uuid_generate_random();

struct Superblock {
  static constexpr char kMagic[8] = {'D', 'Y', 'N', 'F', 'S', 'D', 'S', 'K'};
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr uint64_t kSize = 4096;
  static constexpr uint64_t kDataStart = 1 << 20;  // data area begins at 1 MiB
  static constexpr uint32_t kBlockSize = ::dynamicfs::kBlockSize;

  uint32_t format_version = kFormatVersion;
  Uuid volume_uuid{};
  Uuid disk_uuid{};
  uint32_t disk_index = 0;
  uint32_t disk_count = 0;
  uint64_t disk_size = 0;  // bytes usable by dynamicfs, a multiple of kBlockSize
  uint64_t data_start = kDataStart;
  uint32_t block_size = kBlockSize;

  // Serialises to exactly kSize bytes with a trailing crc32c.
  std::string encode() const;
  // Parses and validates magic, version and checksum.
  static Result<Superblock> decode(const std::string& block);

  static Result<Superblock> read_from(const Disk& disk);
  Status write_to(const Disk& disk) const;
  // True when the first block carries our magic, valid or not.
  static bool has_magic(const std::string& block);
};

}  // namespace dynamicfs

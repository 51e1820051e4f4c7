// Superblock encoding: little-endian fields after the magic, crc32c of the
// first 4092 bytes stored in the last 4.
#include "src/io/superblock.h"

#include <uuid/uuid.h>

#include <cstring>

#include "src/common/coding.h"
#include "src/common/crc32c.h"

namespace dynamicfs {

std::string uuid_to_string(const Uuid& u) {
  char buf[37];
  uuid_unparse_lower(u.data(), buf);
  return buf;
}

Result<Uuid> uuid_from_string(const std::string& s) {
  Uuid u{};
  if (uuid_parse(s.c_str(), u.data()) != 0)
    return Status::error(EINVAL, "malformed UUID '" + s + "'");
  return u;
}

Uuid uuid_generate_random() {
  Uuid u{};
  ::uuid_generate_random(u.data());
  return u;
}

std::string Superblock::encode() const {
  std::string out(kMagic, sizeof(kMagic));
  put_le<uint32_t>(&out, format_version);
  out.append(reinterpret_cast<const char*>(volume_uuid.data()), 16);
  out.append(reinterpret_cast<const char*>(disk_uuid.data()), 16);
  put_le<uint32_t>(&out, disk_index);
  put_le<uint32_t>(&out, disk_count);
  put_le<uint64_t>(&out, disk_size);
  put_le<uint64_t>(&out, data_start);
  put_le<uint32_t>(&out, block_size);
  out.resize(kSize - 4, '\0');
  put_le<uint32_t>(&out, crc32c(out.data(), out.size()));
  return out;
}

bool Superblock::has_magic(const std::string& block) {
  return block.size() >= sizeof(kMagic) && std::memcmp(block.data(), kMagic, sizeof(kMagic)) == 0;
}

Result<Superblock> Superblock::decode(const std::string& block) {
  if (block.size() != kSize) return Status::error(EINVAL, "superblock has wrong size");
  if (!has_magic(block)) return Status::error(EINVAL, "no dynamicfs superblock (bad magic)");
  uint32_t stored = get_le<uint32_t>(block.data() + kSize - 4);
  if (stored != crc32c(block.data(), kSize - 4)) {
    return Status::error(EUCLEAN, "superblock checksum mismatch (damaged superblock)");
  }
  Superblock sb;
  const char* p = block.data() + sizeof(kMagic);
  sb.format_version = get_le<uint32_t>(p);
  p += 4;
  std::memcpy(sb.volume_uuid.data(), p, 16);
  p += 16;
  std::memcpy(sb.disk_uuid.data(), p, 16);
  p += 16;
  sb.disk_index = get_le<uint32_t>(p);
  p += 4;
  sb.disk_count = get_le<uint32_t>(p);
  p += 4;
  sb.disk_size = get_le<uint64_t>(p);
  p += 8;
  sb.data_start = get_le<uint64_t>(p);
  p += 8;
  sb.block_size = get_le<uint32_t>(p);
  if (sb.format_version != kFormatVersion) {
    return Status::error(EPROTONOSUPPORT,
                         "unsupported format version " + std::to_string(sb.format_version));
  }
  if (sb.block_size != kBlockSize || sb.data_start != kDataStart || sb.disk_size <= sb.data_start) {
    return Status::error(EUCLEAN, "superblock geometry is inconsistent");
  }
  return sb;
}

Result<Superblock> Superblock::read_from(const Disk& disk) {
  if (disk.size() < kSize)
    return Status::error(EINVAL, "disk " + disk.path() + " is too small to hold a superblock");
  std::string block(kSize, '\0');
  DFS_RETURN_IF_ERROR(disk.read_at(block.data(), kSize, 0));
  auto sb = decode(block);
  if (!sb.is_ok()) return Status::error(sb.err(), disk.path() + ": " + sb.status().message());
  if (sb->disk_size > disk.size()) {
    return Status::error(EUCLEAN,
                         disk.path() + ": superblock says " + std::to_string(sb->disk_size) +
                             " bytes but the disk has only " + std::to_string(disk.size()));
  }
  return sb;
}

Status Superblock::write_to(const Disk& disk) const {
  std::string block = encode();
  DFS_RETURN_IF_ERROR(disk.write_at(block.data(), block.size(), 0));
  return disk.sync();
}

}  // namespace dynamicfs

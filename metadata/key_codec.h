// KeyCodec: the byte layout of every RocksDB key. Integers are big-endian so
// bytewise order equals numeric order: a range scan over (ino, offset) walks a
// file's extents in offset order, one over (parent, name) a directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/common/coding.h"

namespace dynamicfs {

class KeyCodec {
 public:
  static std::string inode_key(uint64_t ino) {
    std::string k;
    put_be64(&k, ino);
    return k;
  }
  static uint64_t decode_inode_key(std::string_view k) { return get_be64(k.data()); }

  static std::string dentry_key(uint64_t parent, std::string_view name) {
    std::string k;
    k.reserve(8 + name.size());
    put_be64(&k, parent);
    k.append(name);
    return k;
  }
  static std::string dentry_prefix(uint64_t parent) { return inode_key(parent); }
  static std::string_view dentry_name(std::string_view k) { return k.substr(8); }

  static std::string extent_key(uint64_t ino, uint64_t file_offset) {
    std::string k;
    put_be64(&k, ino);
    put_be64(&k, file_offset);
    return k;
  }
  static std::string extent_prefix(uint64_t ino) { return inode_key(ino); }
  static uint64_t extent_key_ino(std::string_view k) { return get_be64(k.data()); }
  static uint64_t extent_key_offset(std::string_view k) { return get_be64(k.data() + 8); }

  static std::string xattr_key(uint64_t ino, std::string_view name) {
    return dentry_key(ino, name);
  }
  static std::string xattr_prefix(uint64_t ino) { return inode_key(ino); }

  static std::string alloc_key(uint32_t disk, uint64_t offset) {
    std::string k;
    put_be32(&k, disk);
    put_be64(&k, offset);
    return k;
  }
  static uint32_t alloc_key_disk(std::string_view k) { return get_be32(k.data()); }
  static uint64_t alloc_key_offset(std::string_view k) { return get_be64(k.data() + 4); }
  // Shared-space records of the checkpoint sit in the alloc family after the
  // free ranges: 'S' ++ disk (u32 BE) ++ offset (u64 BE).
  static constexpr char kSharedTag = 'S';
  static std::string shared_key(uint32_t disk, uint64_t offset) {
    return std::string(1, kSharedTag) + alloc_key(disk, offset);
  }
  static bool is_shared_key(std::string_view k) { return k.size() == 13 && k[0] == kSharedTag; }

  static std::string orphan_key(uint64_t ino) {
    std::string k = kOrphanPrefix;
    put_be64(&k, ino);
    return k;
  }

  // A file's fallocate reservation (volume family): u64 LE pool bytes.
  static std::string reserve_key(uint64_t ino) {
    std::string k = kReservePrefix;
    put_be64(&k, ino);
    return k;
  }

  // Keys of the volume column family.
  static constexpr const char* kNextIno = "next_ino";
  static constexpr const char* kCleanUnmount = "clean_unmount";
  static constexpr const char* kVolumeUuid = "volume_uuid";
  static constexpr const char* kFormatVersion = "format_version";
  static constexpr const char* kOrphanPrefix = "orphan/";
  static constexpr const char* kReservePrefix = "reserve/";

  // Smallest key greater than every key starting with prefix.
  static std::string prefix_end(std::string prefix) {
    while (!prefix.empty()) {
      auto c = static_cast<unsigned char>(prefix.back());
      if (c != 0xff) {
        prefix.back() = static_cast<char>(c + 1);
        return prefix;
      }
      prefix.pop_back();
    }
    return prefix;
  }
};

}  // namespace dynamicfs

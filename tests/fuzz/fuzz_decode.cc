// libFuzzer target over everything dynamicfs decodes from disk or from
// RocksDB: superblocks, extent records, inode records and the keys they are
// stored under. A corrupt disk or metadata store must give an error value,
// never a crash, a hang or a wild read; what decodes must encode back to an
// equal value (so a repair that rewrites a record cannot change it).
//
// The first byte picks the decoder; the rest is its input. The seed corpus
// in tests/fuzz/corpus holds one valid input of each kind.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "metadata/extent_record.h"
#include "metadata/inode_record.h"
#include "metadata/key_codec.h"
#include "src/io/superblock.h"

using namespace dynamicfs;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void fuzz_superblock(std::string_view in) {
  auto sb = Superblock::decode(std::string(in));
  (void)Superblock::has_magic(std::string(in));
  if (!sb.is_ok()) return;
  auto again = Superblock::decode(sb->encode());
  check(again.is_ok());
  check(again->volume_uuid == sb->volume_uuid && again->disk_uuid == sb->disk_uuid &&
        again->disk_index == sb->disk_index && again->disk_size == sb->disk_size &&
        again->data_start == sb->data_start);
}

void fuzz_extent(std::string_view in) {
  auto e = ExtentRecord::decode(in);
  if (!e.is_ok()) return;
  // A stripe keeps a crc per block of every unit; copies one per block.
  const size_t crcs = e->is_ec() ? e->copies.size() * e->unit_blocks : e->blocks();
  check(!e->copies.empty() && e->length % ExtentRecord::kBlock == 0 && e->crcs.size() == crcs);
  check(!e->is_ec() || e->skip + e->blocks() <= size_t{e->ec_k} * e->unit_blocks);
  auto again = ExtentRecord::decode(e->encode());
  check(again.is_ok() && again.value() == e.value());
  if (e->blocks() > 1) {
    ExtentRecord s = e->slice(ExtentRecord::kBlock, e->length - ExtentRecord::kBlock);
    check(s.copies.size() == e->copies.size());
    check(e->is_ec() ? s.crcs == e->crcs && s.skip == e->skip + 1 : s.crcs.size() == s.blocks());
    auto sliced = ExtentRecord::decode(s.encode());
    check(sliced.is_ok() && sliced.value() == s);
  }
}

void fuzz_inode(std::string_view in) {
  auto r = InodeRecord::decode(7, in);
  if (!r.is_ok()) return;
  auto again = InodeRecord::decode(7, r->encode());
  check(again.is_ok() && again->encode() == r->encode());
}

void fuzz_keys(std::string_view in) {
  // Keys are read back by length-checked callers; the decoders must agree
  // with the encoders on every well-sized key.
  if (in.size() >= 16) {
    uint64_t ino = KeyCodec::extent_key_ino(in), off = KeyCodec::extent_key_offset(in);
    check(KeyCodec::extent_key(ino, off) == in.substr(0, 16));
  }
  if (in.size() >= 8) {
    uint64_t parent = KeyCodec::decode_inode_key(in);
    std::string_view name = KeyCodec::dentry_name(in);
    check(KeyCodec::dentry_key(parent, name) == in);
    check(KeyCodec::inode_key(parent) == in.substr(0, 8));
  }
  if (in.size() >= 12) {
    uint32_t disk = KeyCodec::alloc_key_disk(in);
    uint64_t off = KeyCodec::alloc_key_offset(in);
    check(KeyCodec::alloc_key(disk, off) == in.substr(0, 12));
  }
  (void)KeyCodec::is_shared_key(in);
  std::string end = KeyCodec::prefix_end(std::string(in));
  check(end.empty() || std::string_view(end) > in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      fuzz_superblock(in);
      break;
    case 1:
      fuzz_extent(in);
      break;
    case 2:
      fuzz_inode(in);
      break;
    default:
      fuzz_keys(in);
      break;
  }
  return 0;
}

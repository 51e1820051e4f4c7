// ExtentRecord encoding (little endian):
//   v1: version, disk u32, disk offset u64, length u32, generation u64, crcs
//   v2: version, copy count u8, (disk u32, offset u64) per copy, length,
//       generation, crcs
//   v3: version, k u8, m u8, unit blocks u32, skip u32, (disk u32, offset
//       u64) per unit, length, generation, crcs of all (k + m) * unit blocks
#include "metadata/extent_record.h"

#include "src/common/coding.h"

namespace dynamicfs {

ExtentRecord ExtentRecord::slice(uint32_t skip_bytes, uint32_t len) const {
  if (is_ec()) {
    ExtentRecord out = *this;
    out.skip += skip_bytes / kBlock;
    out.length = len;
    return out;
  }
  const uint32_t skip = skip_bytes;
  ExtentRecord out;
  out.copies = copies;
  for (auto& c : out.copies) c.offset += skip;
  out.length = len;
  out.generation = generation;
  out.crcs.assign(crcs.begin() + skip / kBlock, crcs.begin() + (skip + len) / kBlock);
  return out;
}

const ExtentCopy* ExtentRecord::copy_on(uint32_t disk) const {
  for (const auto& c : copies)
    if (c.disk == disk) return &c;
  return nullptr;
}

std::string ExtentRecord::encode() const {
  std::string out;
  out.reserve(36 + copies.size() * 12 + crcs.size() * 4);
  if (is_ec()) {
    put_le<uint8_t>(&out, kVersion3);
    put_le<uint8_t>(&out, ec_k);
    put_le<uint8_t>(&out, ec_m);
    put_le<uint32_t>(&out, unit_blocks);
    put_le<uint32_t>(&out, skip);
    for (const auto& c : copies) {
      put_le<uint32_t>(&out, c.disk);
      put_le<uint64_t>(&out, c.offset);
    }
  } else if (copies.size() == 1) {
    put_le<uint8_t>(&out, kVersion1);
    put_le<uint32_t>(&out, copies[0].disk);
    put_le<uint64_t>(&out, copies[0].offset);
  } else {
    put_le<uint8_t>(&out, kVersion2);
    put_le<uint8_t>(&out, static_cast<uint8_t>(copies.size()));
    for (const auto& c : copies) {
      put_le<uint32_t>(&out, c.disk);
      put_le<uint64_t>(&out, c.offset);
    }
  }
  put_le<uint32_t>(&out, length);
  put_le<uint64_t>(&out, generation);
  for (uint32_t c : crcs) put_le<uint32_t>(&out, c);
  return out;
}

Result<ExtentRecord> ExtentRecord::decode(std::string_view value) {
  LeReader r(value);
  const uint8_t version = r.get<uint8_t>();
  if (!r.ok() || version < kVersion1 || version > kVersion3)
    return Status::error(EUCLEAN, "extent record: unknown version");
  ExtentRecord e;
  size_t n = 1;
  if (version == kVersion3) {
    e.ec_k = r.get<uint8_t>();
    e.ec_m = r.get<uint8_t>();
    e.unit_blocks = r.get<uint32_t>();
    e.skip = r.get<uint32_t>();
    n = size_t{e.ec_k} + e.ec_m;
    if (!r.ok() || e.ec_k < 1 || e.ec_m < 1 || n > kMaxUnits || e.unit_blocks == 0 ||
        e.unit_blocks > (1u << 20))
      return Status::error(EUCLEAN, "extent record: bad stripe shape");
  } else if (version == kVersion2) {
    n = r.get<uint8_t>();
    if (!r.ok() || n < 1 || n > kMaxCopies)
      return Status::error(EUCLEAN, "extent record: bad copy count");
  }
  e.copies.resize(n);
  for (auto& c : e.copies) {
    c.disk = r.get<uint32_t>();
    c.offset = r.get<uint64_t>();
  }
  e.length = r.get<uint32_t>();
  e.generation = r.get<uint64_t>();
  const uint64_t ncrcs = e.is_ec() ? uint64_t{e.unit_blocks} * n : e.blocks();
  if (!r.ok() || e.length == 0 || e.length % kBlock != 0 || r.remaining() != ncrcs * 4u) {
    return Status::error(EUCLEAN, "extent record: malformed");
  }
  if (e.is_ec() && uint64_t{e.skip} + e.blocks() > uint64_t{e.ec_k} * e.unit_blocks)
    return Status::error(EUCLEAN, "extent record: window outside its stripe");
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (e.copies[i].disk == e.copies[j].disk)
        return Status::error(EUCLEAN, "extent record: two copies (units) on one disk");
    }
  }
  e.crcs.resize(ncrcs);
  for (auto& c : e.crcs) c = r.get<uint32_t>();
  return e;
}

}  // namespace dynamicfs

// ExtentRecord encoding (little endian):
//   v1: version, disk u32, disk offset u64, length u32, generation u64, crcs
//   v2: version, copy count u8, (disk u32, offset u64) per copy, length,
//       generation, crcs
#include "metadata/extent_record.h"

#include "src/common/coding.h"

namespace dynamicfs {

ExtentRecord ExtentRecord::slice(uint32_t skip, uint32_t len) const {
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
  out.reserve(26 + copies.size() * 12 + crcs.size() * 4);
  if (copies.size() == 1) {
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
  if (!r.ok() || (version != kVersion1 && version != kVersion2))
    return Status::error(EUCLEAN, "extent record: unknown version");
  ExtentRecord e;
  size_t n = 1;
  if (version == kVersion2) {
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
  if (!r.ok() || e.length == 0 || e.length % kBlock != 0 || r.remaining() != e.blocks() * 4u) {
    return Status::error(EUCLEAN, "extent record: malformed");
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (e.copies[i].disk == e.copies[j].disk)
        return Status::error(EUCLEAN, "extent record: two copies on one disk");
    }
  }
  e.crcs.resize(e.blocks());
  for (auto& c : e.crcs) c = r.get<uint32_t>();
  return e;
}

}  // namespace dynamicfs

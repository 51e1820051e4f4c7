// ExtentRecord encoding: version, disk, disk offset, length, generation, crcs.
#include "metadata/extent_record.h"

#include "src/common/coding.h"

namespace dynamicfs {

ExtentRecord ExtentRecord::slice(uint32_t skip, uint32_t len) const {
  ExtentRecord out;
  out.disk = disk;
  out.disk_offset = disk_offset + skip;
  out.length = len;
  out.generation = generation;
  out.crcs.assign(crcs.begin() + skip / kBlock, crcs.begin() + (skip + len) / kBlock);
  return out;
}

std::string ExtentRecord::encode() const {
  std::string out;
  out.reserve(25 + crcs.size() * 4);
  put_le<uint8_t>(&out, kVersion);
  put_le<uint32_t>(&out, disk);
  put_le<uint64_t>(&out, disk_offset);
  put_le<uint32_t>(&out, length);
  put_le<uint64_t>(&out, generation);
  for (uint32_t c : crcs) put_le<uint32_t>(&out, c);
  return out;
}

Result<ExtentRecord> ExtentRecord::decode(std::string_view value) {
  LeReader r(value);
  if (r.get<uint8_t>() != kVersion) return Status::error(EUCLEAN, "extent record: unknown version");
  ExtentRecord e;
  e.disk = r.get<uint32_t>();
  e.disk_offset = r.get<uint64_t>();
  e.length = r.get<uint32_t>();
  e.generation = r.get<uint64_t>();
  if (!r.ok() || e.length == 0 || e.length % kBlock != 0 || r.remaining() != e.blocks() * 4u) {
    return Status::error(EUCLEAN, "extent record: malformed");
  }
  e.crcs.resize(e.blocks());
  for (auto& c : e.crcs) c = r.get<uint32_t>();
  return e;
}

}  // namespace dynamicfs

// JournalBlob encoding; see journal_blob.h.
#include "metadata/journal_blob.h"

#include <cerrno>

#include "src/common/coding.h"

namespace dynamicfs {

std::string JournalBlob::encode(const std::vector<ExtentCopy>& copies, const char* data,
                                uint32_t length) {
  std::string out;
  out.reserve(10 + copies.size() * 12 + 4 + length);
  put_le<uint32_t>(&out, kMagic);
  put_le<uint8_t>(&out, kVersion);
  put_le<uint8_t>(&out, static_cast<uint8_t>(copies.size()));
  for (const auto& c : copies) {
    put_le<uint32_t>(&out, c.disk);
    put_le<uint64_t>(&out, c.offset);
  }
  put_le<uint32_t>(&out, length);
  out.append(data, length);
  return out;
}

bool JournalBlob::is_journal(std::string_view blob) {
  return blob.size() >= 4 && get_le<uint32_t>(blob.data()) == kMagic;
}

Result<JournalBlob> JournalBlob::decode(std::string_view blob) {
  LeReader r(blob);
  if (r.get<uint32_t>() != kMagic || r.get<uint8_t>() != kVersion)
    return Status::error(EUCLEAN, "journal blob: bad magic or version");
  JournalBlob out;
  const uint8_t n = r.get<uint8_t>();
  if (n == 0 || n > ExtentRecord::kMaxCopies)
    return Status::error(EUCLEAN, "journal blob: bad copy count");
  for (uint8_t i = 0; i < n; ++i) {
    ExtentCopy c;
    c.disk = r.get<uint32_t>();
    c.offset = r.get<uint64_t>();
    out.copies.push_back(c);
  }
  const uint32_t length = r.get<uint32_t>();
  if (!r.ok() || r.remaining() != length || length % ExtentRecord::kBlock != 0)
    return Status::error(EUCLEAN, "journal blob: truncated or unaligned");
  out.data = blob.substr(blob.size() - length);
  return out;
}

}  // namespace dynamicfs

// ISA-L wrapper; kept out of the header so only one file sees isa-l.h.
#include "src/common/crc32c.h"

#include <isa-l.h>

namespace dynamicfs {

uint32_t crc32c(const void* data, size_t len, uint32_t seed) {
  // ISA-L's crc32_iscsi uses the raw register convention; invert in and out
  // to get the standard crc32c value (crc32c("123456789") == 0xE3069283).
  return ~crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)), static_cast<int>(len),
                      ~seed);
}

}  // namespace dynamicfs

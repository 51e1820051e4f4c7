// Status rendering.
#include "src/common/status.h"

#include <cstring>

namespace dynamicfs {

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string out = m_message;
  if (!out.empty()) out += ": ";
  out += std::strerror(m_errno);
  return out;
}

}  // namespace dynamicfs

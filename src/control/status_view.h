// StatusView: renders the daemon's status summary (the JSON of the "status"
// control request) as the one-screen view of `dynamicfs status`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dynamicfs {

class StatusView {
 public:
  static std::string render(const nlohmann::json& summary);
  // 3725 -> "1h02m05s".
  static std::string duration(uint64_t seconds);
};

}  // namespace dynamicfs

// SnapshotListView: renders the reply of the "snapshot_list" control
// request as the table of `dynamicfs snapshot list` (name, creation time in
// local time, bytes referenced and bytes only the snapshot holds).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace dynamicfs {

class SnapshotListView {
 public:
  static std::string render(const nlohmann::json& reply);
  // Nanoseconds since the epoch as "YYYY-MM-DD HH:MM:SS", local time.
  static std::string local_time(int64_t ns);
};

}  // namespace dynamicfs

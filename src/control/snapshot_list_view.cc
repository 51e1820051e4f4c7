// SnapshotListView: one line per snapshot, then the deletes still pending.
#include "src/control/snapshot_list_view.h"

#include <cstdio>
#include <ctime>

#include "src/control/metric_format.h"

namespace dynamicfs {

std::string SnapshotListView::local_time(int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string SnapshotListView::render(const nlohmann::json& reply) {
  std::string out;
  char line[1024];  // names are at most 255 bytes
  std::snprintf(line, sizeof(line), "%-24s  %-19s  %12s  %12s\n", "NAME", "CREATED", "REFERENCED",
                "UNIQUE");
  out += line;
  for (const auto& s : reply.value("snapshots", nlohmann::json::array())) {
    std::snprintf(line, sizeof(line), "%-24s  %-19s  %12s  %12s\n",
                  s.value("name", std::string()).c_str(),
                  local_time(s.value("created_ns", int64_t{0})).c_str(),
                  MetricFormat::bytes(s.value("referenced_bytes", 0.0)).c_str(),
                  MetricFormat::bytes(s.value("unique_bytes", 0.0)).c_str());
    out += line;
  }
  const uint64_t pending = reply.value("deletes_pending", uint64_t{0});
  if (pending > 0)
    out += "(" + std::to_string(pending) + " deleted snapshot(s) still giving space back)\n";
  return out;
}

}  // namespace dynamicfs

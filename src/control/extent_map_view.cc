// ExtentMapView: totals per disk class, then the extent table.
#include "src/control/extent_map_view.h"

#include <cstdio>

#include "src/control/metric_format.h"

namespace dynamicfs {

std::string ExtentMapView::render(const std::string& path, const nlohmann::json& extents) {
  double total = 0, ssd = 0, hdd = 0;
  for (const auto& e : extents) {
    total += e.value("length", 0.0);
    // Disk bytes each copy (or stripe unit) holds.
    const double len = e.contains("ec") ? e.value("unit_bytes", 0.0) : e.value("length", 0.0);
    for (const auto& c : e["copies"]) (c.value("class", "") == "hdd" ? hdd : ssd) += len;
  }
  std::string out = path + ": " + std::to_string(extents.size()) + " extents, " +
                    MetricFormat::bytes(total) + "; copies on ssd " + MetricFormat::bytes(ssd) +
                    ", on hdd " + MetricFormat::bytes(hdd) + "\n";
  char line[256];
  std::snprintf(line, sizeof(line), "  %14s  %10s  %s\n", "FILE OFFSET", "LENGTH",
                "COPIES or EC K+M UNITS (disk:class@offset)");
  out += line;
  for (const auto& e : extents) {
    std::string copies;
    if (e.contains("ec")) copies = " ec " + e.value("ec", std::string()) + ":";
    for (const auto& c : e["copies"]) {
      copies += " " + std::to_string(c.value("disk", 0u)) + ":" + c.value("class", std::string()) +
                "@" + std::to_string(c.value("offset", uint64_t{0}));
    }
    std::snprintf(line, sizeof(line), "  %14llu  %10s ",
                  static_cast<unsigned long long>(e.value("file_offset", uint64_t{0})),
                  MetricFormat::bytes(e.value("length", 0.0)).c_str());
    out += line + copies + "\n";
  }
  return out;
}

}  // namespace dynamicfs

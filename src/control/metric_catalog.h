// MetricCatalog: the one list of every metric dynamicfs exports, with its
// type, labels, group and help text. Status, JSON and Prometheus output all
// take their names from here, and docs/observability.md documents the same
// list (a unit test keeps the two in step).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dynamicfs {

enum class MetricType { kCounter, kGauge, kHistogram };

const char* metric_type_name(MetricType t);

struct MetricDef {
  std::string_view name;
  MetricType type;
  std::string_view group;   // section in `status --metrics`
  std::string_view labels;  // comma-separated label names, "" for none
  std::string_view help;
};

class MetricCatalog {
 public:
  static const std::vector<MetricDef>& all();
  // nullptr when NAME is not a catalogued metric.
  static const MetricDef* find(std::string_view name);
  // The groups in display order.
  static const std::vector<std::string_view>& groups();
  // The Prometheus name: "dynamicfs_" + name, with "_total" added to
  // counters whose name lacks it (lock_acquisitions).
  static std::string prometheus_name(const MetricDef& def);
};

}  // namespace dynamicfs

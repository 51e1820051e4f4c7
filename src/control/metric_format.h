// MetricFormat: renders a MetricSet as Prometheus text exposition (version
// 0.0.4, accepted by `promtool check metrics`) or as the grouped, readable
// listing of `dynamicfs status --metrics`.
#pragma once

#include <string>

#include "src/control/metric_set.h"

namespace dynamicfs {

class MetricFormat {
 public:
  static std::string prometheus(const MetricSet& set);
  static std::string text(const MetricSet& set);
  // 0.000123 -> "123us", 0.25 -> "250ms", 3 -> "3.00s".
  static std::string seconds(double s);
  // 1536 -> "1.5 KiB".
  static std::string bytes(double b);
};

}  // namespace dynamicfs

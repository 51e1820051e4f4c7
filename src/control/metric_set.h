// MetricSet: one collected reading of every metric (values and histogram
// snapshots with their labels). The daemon fills one per request from the
// live counters; it travels to the CLI as JSON (the documented `metrics`
// object of `status --json`) and is rendered by MetricFormat.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/common/histogram.h"
#include "src/common/result.h"
#include "src/control/metric_catalog.h"

namespace dynamicfs {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

struct MetricSample {
  MetricLabels labels;
  double value = 0;        // counters and gauges
  HistogramSnapshot hist;  // histograms
};

class MetricSet {
 public:
  // NAME must be in the MetricCatalog with a matching type; anything else is
  // a programming error and is dropped (and logged).
  void add(std::string_view name, MetricLabels labels, double value);
  void add_histogram(std::string_view name, MetricLabels labels, HistogramSnapshot h);

  // Samples of NAME in insertion order; empty if none were added.
  const std::vector<MetricSample>& samples(std::string_view name) const;
  // The value of the sample of NAME with exactly these labels (in any
  // order), if any. Labels are kept sorted by name.
  std::optional<double> value(std::string_view name, MetricLabels labels = {}) const;

  nlohmann::json to_json() const;
  static Result<MetricSet> from_json(const nlohmann::json& j);

 private:
  bool check(std::string_view name, bool histogram) const;
  std::map<std::string, std::vector<MetricSample>, std::less<>> m_samples;
};

}  // namespace dynamicfs

// MetricSet: collection and the JSON form.
#include "src/control/metric_set.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace dynamicfs {

bool MetricSet::check(std::string_view name, bool histogram) const {
  const MetricDef* def = MetricCatalog::find(name);
  if (def == nullptr || (def->type == MetricType::kHistogram) != histogram) {
    spdlog::error("metric {} is not in the catalog as a {}", name,
                  histogram ? "histogram" : "counter or gauge");
    return false;
  }
  return true;
}

void MetricSet::add(std::string_view name, MetricLabels labels, double value) {
  if (!check(name, false)) return;
  std::sort(labels.begin(), labels.end());
  MetricSample s;
  s.labels = std::move(labels);
  s.value = value;
  m_samples[std::string(name)].push_back(std::move(s));
}

void MetricSet::add_histogram(std::string_view name, MetricLabels labels, HistogramSnapshot h) {
  if (!check(name, true)) return;
  std::sort(labels.begin(), labels.end());
  MetricSample s;
  s.labels = std::move(labels);
  s.hist = std::move(h);
  m_samples[std::string(name)].push_back(std::move(s));
}

const std::vector<MetricSample>& MetricSet::samples(std::string_view name) const {
  static const std::vector<MetricSample> kNone;
  auto it = m_samples.find(name);
  return it == m_samples.end() ? kNone : it->second;
}

std::optional<double> MetricSet::value(std::string_view name, MetricLabels labels) const {
  std::sort(labels.begin(), labels.end());
  for (const auto& s : samples(name)) {
    if (s.labels == labels) return s.value;
  }
  return std::nullopt;
}

nlohmann::json MetricSet::to_json() const {
  using nlohmann::json;
  json out = json::object();
  for (const auto& def : MetricCatalog::all()) {
    json list = json::array();
    for (const auto& s : samples(def.name)) {
      json labels = json::object();
      for (const auto& [k, v] : s.labels) labels[k] = v;
      json j = {{"labels", labels}};
      if (def.type == MetricType::kHistogram) {
        j["count"] = s.hist.count;
        j["sum"] = s.hist.sum;
        j["p50"] = s.hist.quantile(0.5);
        j["p99"] = s.hist.quantile(0.99);
        j["bounds"] = s.hist.bounds;
        j["counts"] = s.hist.counts;
      } else {
        j["value"] = s.value;
      }
      list.push_back(std::move(j));
    }
    out[std::string(def.name)] = {{"type", metric_type_name(def.type)},
                                  {"help", std::string(def.help)},
                                  {"samples", std::move(list)}};
  }
  return out;
}

Result<MetricSet> MetricSet::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return Status::error(EPROTO, "metrics: expected an object");
  MetricSet set;
  for (const auto& def : MetricCatalog::all()) {
    auto it = j.find(std::string(def.name));
    if (it == j.end() || !it->is_object() || !it->contains("samples")) continue;
    for (const auto& s : (*it)["samples"]) {
      if (!s.is_object()) return Status::error(EPROTO, "metrics: malformed sample");
      MetricLabels labels;
      if (s.contains("labels") && s["labels"].is_object()) {
        for (const auto& [k, v] : s["labels"].items()) {
          labels.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
        }
      }
      if (def.type == MetricType::kHistogram) {
        HistogramSnapshot h;
        h.count = s.value("count", uint64_t{0});
        h.sum = s.value("sum", 0.0);
        if (s.contains("bounds")) h.bounds = s["bounds"].get<std::vector<double>>();
        if (s.contains("counts")) h.counts = s["counts"].get<std::vector<uint64_t>>();
        if (h.counts.size() != h.bounds.size() + 1)
          return Status::error(EPROTO, "metrics: histogram with mismatched buckets");
        set.add_histogram(def.name, std::move(labels), std::move(h));
      } else {
        set.add(def.name, std::move(labels), s.value("value", 0.0));
      }
    }
  }
  return set;
}

}  // namespace dynamicfs

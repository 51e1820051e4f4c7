// MetricFormat: Prometheus exposition and the human-readable listing.
#include "src/control/metric_format.h"

#include <cmath>
#include <cstdio>

namespace dynamicfs {

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  }
  return buf;
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string label_text(const MetricLabels& labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    out += k + "=\"" + escape_label(v) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

std::string escape_help(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool is_idle(const MetricDef& def, const MetricSample& s) {
  return def.type == MetricType::kHistogram ? s.hist.count == 0 : s.value == 0;
}

}  // namespace

std::string MetricFormat::prometheus(const MetricSet& set) {
  std::string out;
  for (const auto& def : MetricCatalog::all()) {
    std::string name = MetricCatalog::prometheus_name(def);
    out += "# HELP " + name + " " + escape_help(def.help) + "\n";
    out += "# TYPE " + name + " " + metric_type_name(def.type) + "\n";
    for (const auto& s : set.samples(def.name)) {
      if (def.type != MetricType::kHistogram) {
        out += name + label_text(s.labels) + " " + number(s.value) + "\n";
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < s.hist.counts.size(); ++i) {
        cumulative += s.hist.counts[i];
        std::string le = i < s.hist.bounds.size() ? number(s.hist.bounds[i]) : "+Inf";
        out += name + "_bucket" + label_text(s.labels, "le=\"" + le + "\"") + " " +
               std::to_string(cumulative) + "\n";
      }
      out += name + "_sum" + label_text(s.labels) + " " + number(s.hist.sum) + "\n";
      out += name + "_count" + label_text(s.labels) + " " + std::to_string(s.hist.count) + "\n";
    }
  }
  return out;
}

std::string MetricFormat::seconds(double s) {
  char buf[32];
  if (s < 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.0fus", s * 1e6);
  } else if (s < 1.0) {
    std::snprintf(buf, sizeof(buf), "%.1fms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fs", s);
  }
  return buf;
}

std::string MetricFormat::bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024.0 && u < 5) {
    b /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string MetricFormat::text(const MetricSet& set) {
  std::string out;
  char line[512];
  for (std::string_view group : MetricCatalog::groups()) {
    out += std::string(group) + "\n";
    for (const auto& def : MetricCatalog::all()) {
      if (def.group != group) continue;
      const auto& samples = set.samples(def.name);
      size_t shown = 0, idle = 0;
      for (const auto& s : samples) {
        // Labelled families list only their active members.
        if (!s.labels.empty() && is_idle(def, s)) {
          ++idle;
          continue;
        }
        std::string name = std::string(def.name) + label_text(s.labels);
        if (def.type == MetricType::kHistogram) {
          double mean = s.hist.count ? s.hist.sum / static_cast<double>(s.hist.count) : 0;
          std::snprintf(line, sizeof(line), "  %-52s count %llu  mean %s  p50 %s  p99 %s\n",
                        name.c_str(), static_cast<unsigned long long>(s.hist.count),
                        seconds(mean).c_str(), seconds(s.hist.quantile(0.5)).c_str(),
                        seconds(s.hist.quantile(0.99)).c_str());
        } else {
          std::snprintf(line, sizeof(line), "  %-52s %s\n", name.c_str(), number(s.value).c_str());
        }
        out += line;
        ++shown;
      }
      if (shown == 0) {
        std::snprintf(line, sizeof(line), "  %-52s %s\n", std::string(def.name).c_str(),
                      samples.empty() ? "(none)" : "(all zero)");
        out += line;
      } else if (idle > 0) {
        std::snprintf(line, sizeof(line), "  %-52s (%zu more at zero)\n",
                      std::string(def.name).c_str(), idle);
        out += line;
      }
    }
  }
  return out;
}

}  // namespace dynamicfs

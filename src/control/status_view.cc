// StatusView: layout of the summary screen.
#include "src/control/status_view.h"

#include <cstdarg>
#include <cstdio>

#include "src/control/metric_format.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

template <typename T>
T get(const json& j, const char* key, T fallback = T{}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

std::string rate(double bytes_per_second) {
  return MetricFormat::bytes(bytes_per_second) + "/s";
}

void line(std::string* out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void line(std::string* out, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  *out += buf;
  *out += "\n";
}

}  // namespace

std::string StatusView::duration(uint64_t s) {
  char buf[64];
  if (s >= 86400) {
    std::snprintf(buf, sizeof(buf), "%llud%02lluh%02llum",
                  static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else if (s >= 3600) {
    std::snprintf(
        buf, sizeof(buf), "%lluh%02llum%02llus", static_cast<unsigned long long>(s / 3600),
        static_cast<unsigned long long>(s % 3600 / 60), static_cast<unsigned long long>(s % 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(s));
  }
  return buf;
}

std::string StatusView::render(const json& s) {
  std::string out;
  uint64_t cap = 0, used = 0;
  const json disks = s.value("disks", json::array());
  for (const auto& d : disks) {
    cap += get<uint64_t>(d, "capacity_bytes");
    used += get<uint64_t>(d, "used_bytes");
  }
  line(&out, "volume      %s  (uuid %s)", get<std::string>(s, "volume").c_str(),
       get<std::string>(s, "volume_uuid").c_str());
  line(&out, "mounted on  %s  pid %d  up %s", get<std::string>(s, "mountpoint").c_str(),
       get<int>(s, "pid"), duration(get<uint64_t>(s, "uptime_seconds")).c_str());
  line(&out, "health      %s  replicas %u  checksum errors %llu  repairs %llu",
       get<std::string>(s, "health", "unknown").c_str(), get<unsigned>(s, "replicas"),
       static_cast<unsigned long long>(get<uint64_t>(s, "checksum_errors_total")),
       static_cast<unsigned long long>(get<uint64_t>(s, "repairs_total")));
  line(&out, "space       %s used of %s (%.1f%%), %llu inodes", MetricFormat::bytes(used).c_str(),
       MetricFormat::bytes(cap).c_str(),
       cap ? 100.0 * static_cast<double>(used) / static_cast<double>(cap) : 0.0,
       static_cast<unsigned long long>(get<uint64_t>(s, "inodes")));
  if (s.contains("tiering") && get<uint64_t>(s["tiering"]["ssd"], "disks") > 0 &&
      get<uint64_t>(s["tiering"]["hdd"], "disks") > 0) {
    const json& t = s["tiering"];
    auto pct = [](const json& c) {
      double cap = get<double>(c, "capacity_bytes");
      return cap > 0 ? 100.0 * get<double>(c, "used_bytes") / cap : 0.0;
    };
    line(&out, "tiering     %s  ssd %.1f%% of %s (high %u%%, low %u%%), hdd %.1f%% of %s",
         get<bool>(t, "active") ? "on" : "off", pct(t["ssd"]),
         MetricFormat::bytes(get<double>(t["ssd"], "capacity_bytes")).c_str(),
         get<unsigned>(t, "high_water_percent"), get<unsigned>(t, "low_water_percent"),
         pct(t["hdd"]), MetricFormat::bytes(get<double>(t["hdd"], "capacity_bytes")).c_str());
    line(&out, "            moved %s down, %s up since mount; now %s",
         MetricFormat::bytes(get<double>(t, "demoted_bytes_total")).c_str(),
         MetricFormat::bytes(get<double>(t, "promoted_bytes_total")).c_str(),
         rate(get<double>(t, "migration_bytes_per_second")).c_str());
  }
  if (s.contains("policy_convert") && (get<uint64_t>(s["policy_convert"], "pending_files") > 0 ||
                                       get<uint64_t>(s["policy_convert"], "bytes_total") > 0)) {
    const json& c = s["policy_convert"];
    line(&out, "policy      %llu file(s) to convert; %s rewritten to their policy since mount",
         static_cast<unsigned long long>(get<uint64_t>(c, "pending_files")),
         MetricFormat::bytes(get<double>(c, "bytes_total")).c_str());
  }
  if (s.contains("extent_cache")) {
    const json& ec = s["extent_cache"];
    if (get<uint64_t>(ec, "capacity_bytes") == 0) {
      line(&out, "cache       off");
    } else {
      line(&out, "cache       %s of %s  hit ratio %.1f%%  (%llu hits, %llu misses)",
           MetricFormat::bytes(get<double>(ec, "bytes")).c_str(),
           MetricFormat::bytes(get<double>(ec, "capacity_bytes")).c_str(),
           100.0 * get<double>(ec, "hit_ratio"),
           static_cast<unsigned long long>(get<uint64_t>(ec, "hits_total")),
           static_cast<unsigned long long>(get<uint64_t>(ec, "misses_total")));
    }
  }
  if (s.contains("discard")) {
    const json& dc = s["discard"];
    line(&out, "discard     %s  %s discarded, %s waiting%s",
         get<bool>(dc, "enabled") ? "on" : "off",
         MetricFormat::bytes(get<double>(dc, "bytes_total")).c_str(),
         MetricFormat::bytes(get<double>(dc, "pending_bytes")).c_str(),
         get<unsigned>(dc, "unsupported_disks") > 0 ? "  (some disks do not support it)" : "");
  }
  out += "\n";
  line(&out, "disk  state    size       used       queue  read/s        write/s       path");
  for (const auto& d : disks) {
    line(&out, "%-5d %-8s %-10s %-10s %-6llu %-13s %-13s %s", get<int>(d, "index"),
         get<std::string>(d, "state").c_str(),
         MetricFormat::bytes(get<double>(d, "capacity_bytes")).c_str(),
         MetricFormat::bytes(get<double>(d, "used_bytes")).c_str(),
         static_cast<unsigned long long>(get<uint64_t>(d, "queue_depth")),
         rate(get<double>(d, "read_bytes_per_second")).c_str(),
         rate(get<double>(d, "write_bytes_per_second")).c_str(),
         get<std::string>(d, "path").c_str());
  }
  out += "\n";
  const json fuse = s.value("fuse", json::object());
  line(&out, "fuse ops    %.0f ops/s over the last %.1f s, %llu since mount",
       get<double>(fuse, "ops_per_second"), get<double>(fuse, "window_seconds"),
       static_cast<unsigned long long>(get<uint64_t>(fuse, "ops_total")));
  const json busiest = fuse.value("busiest", json::array());
  if (!busiest.empty()) {
    line(&out, "  %-12s %10s %10s %10s", "op", "ops/s", "p50", "p99");
    for (const auto& op : busiest) {
      line(&out, "  %-12s %10.0f %10s %10s", get<std::string>(op, "op").c_str(),
           get<double>(op, "ops_per_second"),
           MetricFormat::seconds(get<double>(op, "p50_seconds")).c_str(),
           MetricFormat::seconds(get<double>(op, "p99_seconds")).c_str());
    }
  }
  const json m = s.value("metadata", json::object());
  line(&out,
       "metadata    %llu group commits (avg %.1f ops each), %llu fsyncs in %llu sync rounds, "
       "%llu WAL syncs",
       static_cast<unsigned long long>(get<uint64_t>(m, "group_commits_total")),
       get<double>(m, "avg_group_commit_ops"),
       static_cast<unsigned long long>(get<uint64_t>(m, "fsync_requests_total")),
       static_cast<unsigned long long>(get<uint64_t>(m, "sync_rounds_total")),
       static_cast<unsigned long long>(get<uint64_t>(m, "wal_syncs_total")));
  const json l = s.value("locks", json::object());
  line(&out, "locks       %llu acquisitions, contention ratio %.4f",
       static_cast<unsigned long long>(get<uint64_t>(l, "lock_acquisitions")),
       get<double>(l, "lock_contention_ratio"));
  const json sc = s.value("scrub", json::object());
  if (get<bool>(sc, "running")) {
    line(&out, "scrub       running: %.1f%% (%s of %s)", 100.0 * get<double>(sc, "progress"),
         MetricFormat::bytes(get<double>(sc, "bytes_done")).c_str(),
         MetricFormat::bytes(get<double>(sc, "bytes_expected")).c_str());
  } else if (sc.contains("last_report") && sc["last_report"].is_object()) {
    const json& r = sc["last_report"];
    line(&out,
         "scrub       idle; last scrub verified %s in %llu extents: %llu checksum errors, "
         "%llu read errors",
         MetricFormat::bytes(get<double>(r, "bytes")).c_str(),
         static_cast<unsigned long long>(get<uint64_t>(r, "extents")),
         static_cast<unsigned long long>(get<uint64_t>(r, "checksum_errors")),
         static_cast<unsigned long long>(get<uint64_t>(r, "read_errors")));
  } else {
    line(&out, "scrub       idle; never run since mount");
  }
  const json rb = s.value("rebalance", json::object());
  if (get<bool>(rb, "running")) {
    line(&out, "rebalance   %s: %.1f%% (%s of %s), %llu extents moved",
         get<std::string>(rb, "task", "").c_str(), 100.0 * get<double>(rb, "progress"),
         MetricFormat::bytes(get<double>(rb, "bytes_done")).c_str(),
         MetricFormat::bytes(get<double>(rb, "bytes_total")).c_str(),
         static_cast<unsigned long long>(get<uint64_t>(rb, "extents_moved")));
  } else if (!get<std::string>(rb, "task", "").empty()) {
    line(&out, "rebalance   idle; last: %s (%s, %llu extents moved)",
         get<std::string>(rb, "task", "").c_str(), get<std::string>(rb, "result", "").c_str(),
         static_cast<unsigned long long>(get<uint64_t>(rb, "extents_moved")));
  } else {
    line(&out, "rebalance   idle");
  }
  const json sn = s.value("snapshots", json::object());
  if (!get<std::string>(sn, "read_only_snapshot", "").empty()) {
    line(&out, "snapshot    %s, mounted read-only",
         get<std::string>(sn, "read_only_snapshot", "").c_str());
  } else {
    line(&out, "snapshots   %llu (%llu being deleted)",
         static_cast<unsigned long long>(get<uint64_t>(sn, "count")),
         static_cast<unsigned long long>(get<uint64_t>(sn, "deletes_pending")));
  }
  const json lab = s.value("lab_sync", json());
  if (lab.is_object()) {
    std::string detail = lab.value("current", false) ? "" : " (not the follower's current slot)";
    if (!lab.value("follower_running", false)) {
      detail += ", follower not running";
    } else if (lab.contains("fetch") && lab["fetch"].is_object()) {
      char buf[96];
      std::snprintf(buf, sizeof buf, ", fetching generation %llu: %.0f%%",
                    static_cast<unsigned long long>(lab["fetch"].value("generation", uint64_t{0})),
                    100.0 * lab["fetch"].value("progress", 0.0));
      detail += buf;
    } else {
      detail += ", newest published " + std::to_string(get<uint64_t>(lab, "latest_published"));
    }
    line(&out, "lab sync    generation %llu (%s) of %s%s",
         static_cast<unsigned long long>(get<uint64_t>(lab, "generation")),
         get<std::string>(lab, "snapshot").c_str(), get<std::string>(lab, "feed").c_str(),
         detail.c_str());
  }
  const json rep = s.value("replication", json::object());
  if (get<bool>(rep, "active")) {
    line(&out, "replication %.1f%% with %u peers", 100.0 * get<double>(rep, "progress"),
         get<unsigned>(rep, "peers"));
  } else {
    line(&out, "replication idle");
  }
  std::string ep = get<std::string>(s, "metrics_endpoint");
  if (!ep.empty()) line(&out, "metrics     http://%s/metrics", ep.c_str());
  return out;
}

}  // namespace dynamicfs

// `dynamicfs status`: asks the daemon for its status and renders a summary.
#include <cstdio>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"

namespace dynamicfs {

namespace {

std::string human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

int cmd_status(const StatusOptions& o) {
  auto info = ControlClient::find_mount(o.mountpoint);
  if (!info.is_ok()) return fail(info.status().message());
  auto client = ControlClient::connect(info->volume_dir);
  if (!client.is_ok()) return fail(client.status().to_string());
  auto reply = client.value()->call({{"op", "status"}});
  if (!reply.is_ok()) return fail(reply.status().to_string());
  const auto& s = reply.value();
  if (s.contains("error")) return fail(s["error"].get<std::string>());
  if (o.json) {
    std::cout << s.dump(2) << std::endl;
    return 0;
  }
  uint64_t cap = 0, used = 0;
  for (const auto& d : s["disks"]) {
    cap += d["capacity_bytes"].get<uint64_t>();
    used += d["used_bytes"].get<uint64_t>();
  }
  std::printf("volume      %s (%s)\n", s["volume"].get<std::string>().c_str(),
              s["volume_uuid"].get<std::string>().c_str());
  std::printf("mounted on  %s  pid %d  up %llus\n", s["mountpoint"].get<std::string>().c_str(),
              s["pid"].get<int>(),
              static_cast<unsigned long long>(s["uptime_seconds"].get<uint64_t>()));
  std::printf(
      "space       %s used of %s (%.1f%%), %llu inodes, replicas %u\n", human(used).c_str(),
      human(cap).c_str(), cap ? 100.0 * static_cast<double>(used) / static_cast<double>(cap) : 0.0,
      static_cast<unsigned long long>(s["inodes"].get<uint64_t>()), s["replicas"].get<unsigned>());
  std::printf("disks\n");
  std::printf("  %-3s %-8s %-10s %-10s %-10s %s\n", "#", "state", "size", "used", "written",
              "path");
  for (const auto& d : s["disks"]) {
    std::printf("  %-3d %-8s %-10s %-10s %-10s %s\n", d["index"].get<int>(),
                d["state"].get<std::string>().c_str(),
                human(d["capacity_bytes"].get<uint64_t>()).c_str(),
                human(d["used_bytes"].get<uint64_t>()).c_str(),
                human(d["written_bytes_total"].get<uint64_t>()).c_str(),
                d["path"].get<std::string>().c_str());
  }
  const auto& m = s["metadata"];
  std::printf(
      "metadata    %llu ops in %llu batches, %llu group commits (avg %.1f ops); %llu fsyncs -> "
      "%llu WAL syncs\n",
      static_cast<unsigned long long>(m["ops_total"].get<uint64_t>()),
      static_cast<unsigned long long>(m["batches_total"].get<uint64_t>()),
      static_cast<unsigned long long>(m["group_commits_total"].get<uint64_t>()),
      m["avg_group_commit_ops"].get<double>(),
      static_cast<unsigned long long>(m["fsync_requests_total"].get<uint64_t>()),
      static_cast<unsigned long long>(m["wal_syncs_total"].get<uint64_t>()));
  std::printf("locks       %llu acquisitions, contention ratio %.4f\n",
              static_cast<unsigned long long>(s["locks"]["lock_acquisitions"].get<uint64_t>()),
              s["locks"]["lock_contention_ratio"].get<double>());
  std::printf("health      %llu checksum errors\n",
              static_cast<unsigned long long>(s["checksum_errors_total"].get<uint64_t>()));
  return 0;
}

}  // namespace dynamicfs

// `dynamicfs disk list|add|remove MOUNTPOINT ...`: the pool's disks, online.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "src/cli/commands.h"
#include "src/cli/watched_call.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

std::optional<std::pair<double, std::string>> rebalance_progress(const json& st) {
  const json rb = st.value("rebalance", json::object());
  if (!rb.value("running", false)) return std::nullopt;
  return std::make_pair(rb.value("progress", 0.0),
                        rb.value("task", std::string()) + ": " +
                            MetricFormat::bytes(rb.value("bytes_done", 0.0)) + " of " +
                            MetricFormat::bytes(rb.value("bytes_total", 0.0)) + ", " +
                            std::to_string(rb.value("extents_moved", uint64_t{0})) + " extents");
}

int list(const std::string& mountpoint) {
  auto client = ControlClient::connect_mount(mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  auto st = client.value()->call({{"op", "status"}});
  if (!st.is_ok()) return fail(st.status().message());
  std::printf("%-4s  %-8s  %-5s  %10s  %10s  %s\n", "DISK", "STATE", "CLASS", "SIZE", "USED",
              "PATH");
  for (const auto& d : st.value().value("disks", json::array())) {
    if (d.value("state", std::string()) == "removed") continue;
    std::printf("%-4llu  %-8s  %-5s  %10s  %10s  %s\n",
                static_cast<unsigned long long>(d.value("index", uint64_t{0})),
                d.value("state", std::string()).c_str(), d.value("class", std::string()).c_str(),
                MetricFormat::bytes(d.value("capacity_bytes", 0.0)).c_str(),
                MetricFormat::bytes(d.value("used_bytes", 0.0)).c_str(),
                d.value("path", std::string()).c_str());
  }
  return 0;
}

// DISK names a disk by index or by path (symlinks and relative paths work).
Result<uint32_t> resolve(const std::string& mountpoint, const std::string& name) {
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
    return static_cast<uint32_t>(std::stoul(name));
  DFS_ASSIGN_OR_RETURN(auto client, ControlClient::connect_mount(mountpoint));
  DFS_ASSIGN_OR_RETURN(auto st, client->call({{"op", "status"}}));
  std::error_code ec;
  auto want = std::filesystem::weakly_canonical(name, ec);
  for (const auto& d : st.value("disks", json::array())) {
    if (d.value("state", std::string()) == "removed") continue;
    auto have = std::filesystem::weakly_canonical(d.value("path", std::string()), ec);
    if (!ec && have == want) return d.value("index", uint32_t{0});
  }
  return Status::error(ENOENT, name + " is not a disk of the volume mounted at " + mountpoint +
                                   " (see `dynamicfs disk list`)");
}

}  // namespace

int cmd_disk(const DiskOptions& o) {
  if (o.action == "list") return list(o.mountpoint);
  if (o.action == "add") {
    uint64_t size = parse_size(o.size);
    if (size == 0) return fail("invalid --size '" + o.size + "' (use e.g. 8G, 512M)");
    std::error_code ec;
    std::string path = std::filesystem::absolute(o.disk, ec).lexically_normal().string();
    auto r = watched_call(o.mountpoint,
                          {{"op", "disk_add"}, {"path", path}, {"size", size}, {"force", o.force}},
                          rebalance_progress);
    if (!r.is_ok()) return fail(r.status().message());
    std::cout << "added " << path << " as disk " << r.value().value("disk", 0) << "; "
              << r.value().value("moved_extents", 0) << " extents given back their copies"
              << std::endl;
    return 0;
  }
  auto index = resolve(o.mountpoint, o.disk);
  if (!index.is_ok()) return fail(index.status().message());
  if (o.action == "class") {
    auto client = ControlClient::connect_mount(o.mountpoint);
    if (!client.is_ok()) return fail(client.status().message());
    auto c = client.value()->call(
        {{"op", "disk_class"}, {"disk", index.value()}, {"class", o.disk_class}});
    if (!c.is_ok()) return fail(c.status().message());
    std::cout << "disk " << index.value() << " is class " << c.value().value("class", std::string())
              << std::endl;
    return 0;
  }
  auto r = watched_call(o.mountpoint, {{"op", "disk_remove"}, {"disk", index.value()}},
                        rebalance_progress);
  if (!r.is_ok()) return fail(r.status().message());
  std::cout << "removed disk " << index.value() << "; " << r.value().value("moved_extents", 0)
            << " extents moved to the other disks" << std::endl;
  return 0;
}

}  // namespace dynamicfs

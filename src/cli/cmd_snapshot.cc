// `dynamicfs snapshot create|list|delete|diff MOUNTPOINT ...`. Create, list
// and delete go to the mounted volume's daemon; diff reads the two frozen
// snapshots' metadata directly.
#include <cstdio>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"
#include "src/control/snapshot_list_view.h"
#include "src/extent/snapshot_catalog.h"
#include "src/fs/snapshot_diff.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

int list(const SnapshotOptions& o, ControlClient& client) {
  auto r = client.call({{"op", "snapshot_list"}});
  if (!r.is_ok()) return fail(r.status().message());
  if (o.json) {
    std::cout << r.value().dump() << std::endl;
    return 0;
  }
  std::cout << SnapshotListView::render(r.value());
  return 0;
}

json ranges_json(const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
  json out = json::array();
  for (const auto& [off, len] : ranges) out.push_back({off, len});
  return out;
}

json file_json(const FileChange& c, bool with_ranges) {
  json j = {{"path", c.path}, {"size", c.size}, {"mode", c.mode}};
  if (with_ranges) {
    j["data"] = c.data;
    j["attributes"] = c.attributes;
    j["ranges"] = ranges_json(c.ranges);
  }
  return j;
}

int diff(const SnapshotOptions& o) {
  auto mount = ControlClient::find_mount(o.mountpoint);
  if (!mount.is_ok()) return fail(mount.status().message());
  const std::string& vol = mount->volume_dir;
  // Held while read, so neither can be deleted meanwhile.
  auto hold_old = SnapshotCatalog::hold(vol, o.name);
  if (!hold_old.is_ok()) return fail(hold_old.status().message());
  auto hold_new = SnapshotCatalog::hold(vol, o.newer);
  if (!hold_new.is_ok()) return fail(hold_new.status().message());
  auto older = MetaStore::open_read_only(SnapshotCatalog::meta_dir(vol, o.name));
  if (!older.is_ok()) return fail("snapshot " + o.name + ": " + older.status().message());
  auto newer = MetaStore::open_read_only(SnapshotCatalog::meta_dir(vol, o.newer));
  if (!newer.is_ok()) return fail("snapshot " + o.newer + ": " + newer.status().message());
  auto d = SnapshotDiff::compare(*older.value(), *newer.value());
  if (!d.is_ok()) return fail(d.status().message());
  if (o.json) {
    json j = {{"old", o.name}, {"new", o.newer}};
    j["added"] = json::array();
    j["removed"] = json::array();
    j["changed"] = json::array();
    for (const auto& c : d->added) j["added"].push_back(file_json(c, false));
    for (const auto& c : d->removed) j["removed"].push_back(file_json(c, false));
    for (const auto& c : d->changed) j["changed"].push_back(file_json(c, true));
    json disks = json::object();
    for (const auto& r : d->new_space) {
      auto& list = disks[std::to_string(r.disk)];
      if (list.is_null()) list = json::array();
      list.push_back({r.offset, r.length});
    }
    j["new_disk_ranges"] = disks;
    j["new_disk_bytes"] = d->new_space_bytes();
    std::cout << j.dump() << std::endl;
    return 0;
  }
  for (const auto& c : d->added) std::printf("A %s\n", c.path.c_str());
  for (const auto& c : d->removed) std::printf("D %s\n", c.path.c_str());
  for (const auto& c : d->changed) {
    uint64_t bytes = 0;
    for (const auto& r : c.ranges) bytes += r.second;
    std::string what = c.data ? "data: " + std::to_string(c.ranges.size()) + " range(s), " +
                                    MetricFormat::bytes(static_cast<double>(bytes))
                              : "attributes";
    std::printf("M %s (%s)\n", c.path.c_str(), what.c_str());
  }
  std::map<uint32_t, uint64_t> per_disk;
  for (const auto& r : d->new_space) per_disk[r.disk] += r.length;
  std::printf("%zu added, %zu removed, %zu changed; new data in %s:", d->added.size(),
              d->removed.size(), d->changed.size(), o.newer.c_str());
  if (per_disk.empty()) std::printf(" none");
  for (const auto& [disk, bytes] : per_disk)
    std::printf(" disk %u %s", disk, MetricFormat::bytes(static_cast<double>(bytes)).c_str());
  std::printf("\n");
  return 0;
}

}  // namespace

int cmd_snapshot(const SnapshotOptions& o) {
  if (o.action == "diff") return diff(o);
  auto client = ControlClient::connect_mount(o.mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  if (o.action == "list") return list(o, *client.value());
  if (o.action == "create") {
    auto r = client.value()->call({{"op", "snapshot_create"}, {"name", o.name}});
    if (!r.is_ok()) return fail(r.status().message());
    std::cout << "created snapshot " << o.name << " (id " << r.value().value("id", 0) << ")"
              << std::endl;
    return 0;
  }
  auto r = client.value()->call({{"op", "snapshot_delete"}, {"name", o.name}, {"wait", o.wait}});
  if (!r.is_ok()) return fail(r.status().message());
  std::cout << "deleted snapshot " << o.name
            << (o.wait ? "; its space is free" : "; its space is given back in the background")
            << std::endl;
  return 0;
}

}  // namespace dynamicfs

// The daemon's answers to control requests (dynamicfs status, config,
// scrub, snapshot, disk ...): one handler per request, found through a
// table by the request's "op". Errors go back as {"error", "errno"}.
#include "src/cli/control_handlers.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <unordered_map>

#include "src/common/crash_point.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

using nlohmann::json;

// Tests only: with DYNAMICFS_FAULT_INJECTION=1 in the daemon's environment
// every disk journals its unsynced writes, so a "power_loss" request can
// undo a random subset of them and kill the daemon at once: what a power cut
// leaves on the data disks (the metadata store keeps what reached the OS,
// the worst order for the data path).
bool fault_injection_enabled() {
  const char* v = std::getenv("DYNAMICFS_FAULT_INJECTION");
  return v != nullptr && std::string(v) == "1";
}

uint64_t scrub_rate_setting(const DaemonSettings& settings) {
  return std::strtoull(settings.get("scrub_rate_mb").value().c_str(), nullptr, 10) * 1000000;
}

namespace {

using Handler = json (*)(DaemonContext&, const json&);

json error_reply(const Status& st) {
  return {{"error", st.message()}, {"errno", st.err()}};
}

// The refusal of the test-only requests when fault injection is off.
json fault_injection_off() {
  return error_reply(Status::error(
      EPERM, "fault injection is off (start the daemon with DYNAMICFS_FAULT_INJECTION=1)"));
}

json on_power_loss(DaemonContext& d, const json& req) {
  if (!fault_injection_enabled()) return fault_injection_off();
  const auto seed = req.value("seed", uint64_t{0});
  Status failed;
  d.fs.power_cut(seed, [&](size_t undone, const Status& st) {
    if (!st.is_ok()) {
      failed = st;
      return;
    }
    spdlog::warn("injected power loss: {} unsynced writes undone; killing the daemon", undone);
    ::kill(::getpid(), SIGKILL);  // while nothing can reach the WAL any more
  });
  if (!failed.is_ok()) return error_reply(failed);
  return error_reply(Status::error(EIO, "still alive after SIGKILL"));
}

json on_status(DaemonContext& d, const json& req) {
  json s = d.status.summary();
  if (req.value("metrics", false)) s["metrics"] = d.status.collect().to_json();
  return s;
}

json on_metrics(DaemonContext& d, const json& /*req*/) {
  return {{"metrics", d.status.collect().to_json()}};
}

json on_scrub(DaemonContext& d, const json& req) {
  uint64_t rate = req.contains("rate_bytes_per_sec") ? req["rate_bytes_per_sec"].get<uint64_t>()
                                                     : scrub_rate_setting(d.settings);
  auto r = d.scrub.run(rate);
  if (!r.is_ok()) return error_reply(r.status());
  return ScrubService::report_json(r.value());
}

json on_disk_class(DaemonContext& d, const json& req) {
  const auto disk = req.value("disk", uint32_t{0});
  Status st = d.fs.volume().set_disk_class(disk, req.value("class", ""));
  if (!st.is_ok()) return error_reply(st);
  return {{"disk", disk}, {"class", disk_class_name(d.fs.volume().disk_class(disk))}};
}

json on_locate(DaemonContext& d, const json& req) {
  auto r = d.fs.extent_map(req.value("ino", uint64_t{0}));
  if (!r.is_ok()) return error_reply(r.status());
  json extents = json::array();
  for (const auto& [off, e] : r.value()) {
    json copies = json::array();
    for (const auto& c : e.copies) {
      const bool known = c.disk < d.fs.volume().disk_count();
      copies.push_back(
          {{"disk", c.disk},
           {"offset", c.offset},
           {"class", known ? disk_class_name(d.fs.volume().disk_class(c.disk)) : "unknown"}});
    }
    json item = {{"file_offset", off}, {"length", e.length}, {"copies", copies}};
    if (e.is_ec()) {
      item["ec"] = std::to_string(e.ec_k) + "+" + std::to_string(e.ec_m);
      item["unit_bytes"] = uint64_t{e.unit_blocks} * ExtentRecord::kBlock;
    }
    extents.push_back(std::move(item));
  }
  return {{"extents", extents}};
}

json on_policy_set(DaemonContext& d, const json& req) {
  auto p = DataPolicy::parse(req.value("policy", std::string()));
  if (!p.is_ok()) return error_reply(p.status());
  auto r = d.fs.set_policy(req.value("ino", uint64_t{0}), p.value());
  if (!r.is_ok()) return error_reply(r.status());
  return {{"policy", p->to_string()}, {"dirs", r->dirs}, {"files", r->files}};
}

json on_policy_get(DaemonContext& d, const json& req) {
  auto p = d.fs.data_policy(req.value("ino", uint64_t{0}));
  if (!p.is_ok()) return error_reply(p.status());
  return {{"policy", p->to_string()}, {"effective", p->describe(d.fs.volume().replicas())}};
}

json on_trim(DaemonContext& d, const json& req) {
  auto r = d.fs.trim(req.value("minimum", uint64_t{4096}));
  if (!r.is_ok()) return error_reply(r.status());
  return {{"bytes", r->bytes}, {"disks", r->disks}};
}

json on_sync(DaemonContext& d, const json& /*req*/) {
  Status st = d.fs.sync_all();
  return st.is_ok() ? json{{"ok", true}} : error_reply(st);
}

json on_config_list(DaemonContext& d, const json& /*req*/) {
  json list = json::array();
  json values = d.settings.all();
  for (const auto& def : DaemonSettings::defs()) {
    std::string name(def.name);
    list.push_back({{"name", name},
                    {"value", values.value(name, "")},
                    {"default", std::string(def.default_value)},
                    {"live", def.live},
                    {"help", std::string(def.help)}});
  }
  return {{"settings", list}};
}

json on_config_get(DaemonContext& d, const json& req) {
  auto v = d.settings.get(req.value("key", ""));
  if (!v.is_ok()) return error_reply(v.status());
  return {{"key", req["key"]}, {"value", v.value()}};
}

json on_config_set(DaemonContext& d, const json& req) {
  std::string key = req.value("op", "") == "log_level" ? "log_level" : req.value("key", "");
  std::string value = req.value("value", "");
  if (d.fs.read_only() && req.value("persist", false))
    return error_reply(Status::error(EROFS, "a snapshot mount cannot persist settings"));
  std::string old = d.settings.get(key).is_ok() ? d.settings.get(key).value() : "";
  Status st = d.settings.set(key, value, req.value("persist", false), d.volume_dir);
  if (!st.is_ok()) return error_reply(st);
  // A running scrub follows a new rate at once.
  if (key == "scrub_rate_mb") d.scrub.set_rate(scrub_rate_setting(d.settings));
  if (key == "scrub_interval") d.scrub.wake_periodic();
  return {{"key", key}, {"value", d.settings.get(key).value()}, {"previous", old}};
}

json on_disk_add(DaemonContext& d, const json& req) {
  auto r = d.fs.add_disk(req.value("path", ""), req.value("size", uint64_t{8} << 30),
                         req.value("force", false));
  if (!r.is_ok()) return error_reply(r.status());
  return {{"disk", r.value()}, {"moved_extents", d.fs.rebalance_status().extents_moved}};
}

json on_disk_remove(DaemonContext& d, const json& req) {
  Status st = d.fs.remove_disk(req.value("disk", uint32_t{0}));
  if (!st.is_ok()) return error_reply(st);
  return {{"disk", req["disk"]}, {"moved_extents", d.fs.rebalance_status().extents_moved}};
}

json on_snapshot_create(DaemonContext& d, const json& req) {
  auto r = d.fs.create_snapshot(req.value("name", ""));
  if (!r.is_ok()) return error_reply(r.status());
  return {{"name", r->name}, {"id", r->id}, {"created_ns", r->created_ns}};
}

json on_snapshot_delete(DaemonContext& d, const json& req) {
  Status st = d.fs.delete_snapshot(req.value("name", ""));
  if (!st.is_ok()) return error_reply(st);
  if (req.value("wait", false)) d.fs.drain_snapshot_deletes();
  return {{"deleted", req["name"]}};
}

json on_snapshot_list(DaemonContext& d, const json& /*req*/) {
  auto r = d.fs.list_snapshots();
  if (!r.is_ok()) return error_reply(r.status());
  json list = json::array();
  for (const auto& u : r.value()) {
    list.push_back({{"name", u.info.name},
                    {"id", u.info.id},
                    {"created_ns", u.info.created_ns},
                    {"referenced_bytes", u.referenced_bytes},
                    {"unique_bytes", u.unique_bytes}});
  }
  return {{"snapshots", list}, {"deletes_pending", d.fs.snapshot_deletes_pending()}};
}

json on_crash_point(DaemonContext& /*d*/, const json& req) {
  if (!fault_injection_enabled()) return fault_injection_off();
  std::string name = req.value("name", "");
  if (!is_crash_point(name)) return error_reply(Status::error(EINVAL, "no crash point " + name));
  spdlog::warn("crash point {} armed", name);
  arm_crash_point(name);
  return {{"armed", name}};
}

json on_remount(DaemonContext& d, const json& req) {
  // mount.dynamicfs has changed the kernel's flags; the daemon follows.
  Status st = d.settings.remount(req.value("options", std::vector<std::string>{}));
  if (!st.is_ok()) return error_reply(st);
  d.fs.set_mount_read_only(req.value("read_only", false));
  spdlog::info("remounted {}", d.fs.mount_read_only() ? "read-only" : "read-write");
  return {{"read_only", d.fs.mount_read_only()}};
}

const std::unordered_map<std::string_view, Handler>& handlers() {
  static const std::unordered_map<std::string_view, Handler> table = {
      {"status", on_status},
      {"metrics", on_metrics},
      {"scrub", on_scrub},
      {"disk_class", on_disk_class},
      {"locate", on_locate},
      {"policy_set", on_policy_set},
      {"policy_get", on_policy_get},
      {"trim", on_trim},
      {"sync", on_sync},
      {"config_list", on_config_list},
      {"config_get", on_config_get},
      {"config_set", on_config_set},
      {"log_level", on_config_set},
      {"disk_add", on_disk_add},
      {"disk_remove", on_disk_remove},
      {"snapshot_create", on_snapshot_create},
      {"snapshot_delete", on_snapshot_delete},
      {"snapshot_list", on_snapshot_list},
      {"power_loss", on_power_loss},
      {"crash_point", on_crash_point},
      {"remount", on_remount},
  };
  return table;
}

}  // namespace

json handle_control_request(DaemonContext& d, const json& req) {
  const std::string op = req.value("op", "");
  if (spdlog::should_log(spdlog::level::debug)) spdlog::debug("control request: {}", req.dump());
  auto it = handlers().find(op);
  if (it == handlers().end())
    return error_reply(Status::error(EOPNOTSUPP, "unknown control request '" + op + "'"));
  return it->second(d, req);
}

}  // namespace dynamicfs

// `dynamicfs config list|get|set` and `dynamicfs log-level`: the daemon's
// live settings, changed without a remount.
#include <cerrno>
#include <cstdio>

#include "src/cli/commands.h"
#include "src/control/control_client.h"

namespace dynamicfs {

namespace {

Result<nlohmann::json> request(const std::string& mountpoint, const nlohmann::json& req) {
  DFS_ASSIGN_OR_RETURN(auto client, ControlClient::connect_mount(mountpoint));
  return client->call(req, ControlClient::kQuickTimeoutMs);
}

}  // namespace

int cmd_config(const ConfigOptions& o) {
  if (o.action == "list") {
    auto r = request(o.mountpoint, {{"op", "config_list"}});
    if (!r.is_ok()) return fail(r.status().message());
    for (const auto& s : r.value()["settings"]) {
      std::printf("%-22s %-16s %s%s\n", s["name"].get<std::string>().c_str(),
                  s["value"].get<std::string>().c_str(), s["help"].get<std::string>().c_str(),
                  s["live"].get<bool>() ? "" : " [mount time]");
    }
    return 0;
  }
  if (o.action == "get") {
    auto r = request(o.mountpoint, {{"op", "config_get"}, {"key", o.key}});
    if (!r.is_ok()) return fail(r.status().message());
    std::printf("%s\n", r.value()["value"].get<std::string>().c_str());
    return 0;
  }
  auto r =
      request(o.mountpoint,
              {{"op", "config_set"}, {"key", o.key}, {"value", o.value}, {"persist", o.persist}});
  if (!r.is_ok()) return fail(r.status().message());
  std::printf("%s = %s (was %s)%s\n", o.key.c_str(), r.value()["value"].get<std::string>().c_str(),
              r.value()["previous"].get<std::string>().c_str(),
              o.persist ? ", saved in volume.toml" : "");
  return 0;
}

int cmd_log_level(const std::string& level, const std::string& mountpoint) {
  auto r = request(mountpoint, {{"op", "log_level"}, {"value", level}});
  if (!r.is_ok()) return fail(r.status().message());
  std::printf("log level %s (was %s)\n", r.value()["value"].get<std::string>().c_str(),
              r.value()["previous"].get<std::string>().c_str());
  return 0;
}

}  // namespace dynamicfs

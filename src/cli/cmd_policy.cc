// `dynamicfs policy set|get`: the data policy of files and directories on a
// mount (replicated with N copies, or erasure coded K+M). Setting one on a
// directory sets it on everything below and the daemon converts existing
// files in the background; new files take their directory's.
#include <cstdio>
#include <cstring>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"

namespace dynamicfs {

int cmd_policy_set(const std::string& path, const std::string& policy) {
  auto t = connect_for_path(path, /*dirs_too=*/true);
  if (!t.is_ok()) return fail(t.status().message());
  auto r = t->client->call({{"op", "policy_set"}, {"ino", t->ino}, {"policy", policy}}, -1);
  if (!r.is_ok()) return fail(path + ": " + r.status().message());
  const auto& v = r.value();
  std::printf(
      "%s: %s (set on %llu directories and %llu files; existing data is converted in "
      "the background, see `dynamicfs status`)\n",
      path.c_str(), v.value("policy", std::string()).c_str(),
      static_cast<unsigned long long>(v.value("dirs", uint64_t{0})),
      static_cast<unsigned long long>(v.value("files", uint64_t{0})));
  return 0;
}

int cmd_policy_get(const std::vector<std::string>& paths, bool json) {
  int rc = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& path : paths) {
    auto t = connect_for_path(path, /*dirs_too=*/true);
    if (!t.is_ok()) {
      rc = fail(t.status().message());
      continue;
    }
    auto r =
        t->client->call({{"op", "policy_get"}, {"ino", t->ino}}, ControlClient::kQuickTimeoutMs);
    if (!r.is_ok()) {
      rc = fail(path + ": " + r.status().message());
      continue;
    }
    if (json) {
      all.push_back(
          {{"path", path}, {"policy", r.value()["policy"]}, {"effective", r.value()["effective"]}});
    } else {
      std::printf("%s: %s\n", path.c_str(), r.value().value("effective", std::string()).c_str());
    }
  }
  if (json) std::cout << all.dump() << std::endl;
  return rc;
}

}  // namespace dynamicfs

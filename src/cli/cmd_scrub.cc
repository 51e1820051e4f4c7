// `dynamicfs scrub`: asks the daemon to verify every extent and prints the
// report.
#include <cstdio>
#include <iostream>

#include "src/cli/commands.h"
#include "src/cli/watched_call.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"

namespace dynamicfs {

int cmd_scrub(const std::string& mountpoint, double rate_mb) {
  nlohmann::json req = {{"op", "scrub"}};
  // Without --rate the daemon's scrub_rate_mb setting applies.
  if (rate_mb >= 0) req["rate_bytes_per_sec"] = static_cast<uint64_t>(rate_mb * 1000.0 * 1000.0);
  auto reply = watched_call(mountpoint, req, [](const nlohmann::json& st) {
    const nlohmann::json sc = st.value("scrub", nlohmann::json::object());
    std::optional<std::pair<double, std::string>> p;
    if (sc.value("running", false)) {
      p = std::make_pair(sc.value("progress", 0.0),
                         "scrub: " + MetricFormat::bytes(sc.value("bytes_done", 0.0)) + " of " +
                             MetricFormat::bytes(sc.value("bytes_expected", 0.0)));
    }
    return p;
  });
  if (!reply.is_ok()) return fail(reply.status().message());
  const auto& r = reply.value();
  auto num = [&](const char* k) { return r.value(k, uint64_t{0}); };
  const uint64_t bad = num("checksum_errors"), read_errors = num("read_errors"),
                 repaired = num("repaired"), unrepaired = num("unrepaired");
  std::printf(
      "scrubbed %llu extents, %.1f MiB: %llu checksum errors (%llu repaired from another copy, "
      "%llu unrepaired), %llu read errors\n",
      static_cast<unsigned long long>(num("extents")),
      static_cast<double>(num("bytes")) / (1 << 20), static_cast<unsigned long long>(bad),
      static_cast<unsigned long long>(repaired), static_cast<unsigned long long>(unrepaired),
      static_cast<unsigned long long>(read_errors));
  for (const auto& p : r["problems"]) std::printf("  %s\n", p.get<std::string>().c_str());
  if (unrepaired + read_errors > 0)
    return fail("scrub found damaged data it could not repair (see above and the daemon log)");
  return 0;
}

}  // namespace dynamicfs

// `dynamicfs scrub`: asks the daemon to verify every extent and prints the
// report.
#include <cstdio>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"

namespace dynamicfs {

int cmd_scrub(const std::string& mountpoint, double rate_mb) {
  auto client = ControlClient::connect_mount(mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  nlohmann::json req = {{"op", "scrub"}};
  // Without --rate the daemon's scrub_rate_mb setting applies.
  if (rate_mb >= 0) req["rate_bytes_per_sec"] = static_cast<uint64_t>(rate_mb * 1000.0 * 1000.0);
  auto reply = client.value()->call(req);
  if (!reply.is_ok()) return fail(reply.status().message());
  const auto& r = reply.value();
  uint64_t bad = r["checksum_errors"].get<uint64_t>(),
           read_errors = r["read_errors"].get<uint64_t>();
  std::printf("scrubbed %llu extents, %.1f MiB: %llu checksum errors, %llu read errors\n",
              static_cast<unsigned long long>(r["extents"].get<uint64_t>()),
              static_cast<double>(r["bytes"].get<uint64_t>()) / (1 << 20),
              static_cast<unsigned long long>(bad), static_cast<unsigned long long>(read_errors));
  for (const auto& p : r["problems"]) std::printf("  %s\n", p.get<std::string>().c_str());
  if (bad + read_errors > 0) return fail("scrub found damaged data (see above and the daemon log)");
  return 0;
}

}  // namespace dynamicfs

// `dynamicfs trim`: asks the daemon to discard every free range of the
// volume's disks now (fstrim(8) for a dynamicfs mount).
#include <cstdio>

#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"

namespace dynamicfs {

int cmd_trim(const std::string& mountpoint, uint64_t minimum) {
  auto client = ControlClient::connect_mount(mountpoint);
  if (!client.is_ok()) return fail(client.status().message());
  // No timeout: a large pool takes a while, as fstrim does.
  auto r = client.value()->call({{"op", "trim"}, {"minimum", minimum}});
  if (!r.is_ok()) return fail(r.status().message());
  const uint64_t bytes = r.value().value("bytes", uint64_t{0});
  const uint32_t disks = r.value().value("disks", uint32_t{0});
  std::printf("%s: %s (%llu bytes) trimmed on %u disk%s\n", mountpoint.c_str(),
              MetricFormat::bytes(static_cast<double>(bytes)).c_str(),
              static_cast<unsigned long long>(bytes), disks, disks == 1 ? "" : "s");
  return 0;
}

}  // namespace dynamicfs

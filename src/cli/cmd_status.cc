// `dynamicfs status`: the one-screen summary, or every metric (--metrics),
// as JSON (--json) or Prometheus text (--prometheus); --watch repeats it.
// A daemon that is gone or hung gives a clear error within two seconds.
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"
#include "src/control/status_view.h"

namespace dynamicfs {

namespace {

volatile sig_atomic_t g_interrupted = 0;

Result<std::string> render_once(const StatusOptions& o) {
  DFS_ASSIGN_OR_RETURN(auto client, ControlClient::connect_mount(o.mountpoint));
  const int timeout = ControlClient::kQuickTimeoutMs;
  if (o.json) {
    DFS_ASSIGN_OR_RETURN(auto s, client->call({{"op", "status"}, {"metrics", true}}, timeout));
    s.erase("version");
    return s.dump(2) + "\n";
  }
  if (o.metrics || o.prometheus) {
    DFS_ASSIGN_OR_RETURN(auto reply, client->call({{"op", "metrics"}}, timeout));
    DFS_ASSIGN_OR_RETURN(MetricSet set,
                         MetricSet::from_json(reply.value("metrics", nlohmann::json())));
    return o.prometheus ? MetricFormat::prometheus(set) : MetricFormat::text(set);
  }
  DFS_ASSIGN_OR_RETURN(auto s, client->call({{"op", "status"}}, timeout));
  return StatusView::render(s);
}

}  // namespace

int cmd_status(const StatusOptions& o) {
  // main.cc lets at most one of --metrics, --json and --prometheus through.
  if (o.watch_seconds <= 0) {
    auto text = render_once(o);
    if (!text.is_ok()) return fail(text.status().message());
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  bool tty = ::isatty(STDOUT_FILENO) != 0;
  while (!g_interrupted) {
    auto text = render_once(o);
    if (tty) std::fputs("\033[H\033[2J", stdout);  // home, clear: refresh in place
    if (!text.is_ok()) {
      std::fflush(stdout);
      return fail(text.status().message());
    }
    std::fputs(text->c_str(), stdout);
    if (tty) {
      std::printf("\n(every %.0f s; Ctrl-C to stop)", o.watch_seconds);
    } else {
      std::fputs("\n", stdout);
    }
    std::fflush(stdout);
    // poll() as an interruptible sleep: a signal ends it early.
    ::poll(nullptr, 0, static_cast<int>(o.watch_seconds * 1000));
  }
  if (tty) std::fputs("\n", stdout);
  return 0;
}

}  // namespace dynamicfs

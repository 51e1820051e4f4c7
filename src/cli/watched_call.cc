// watched_call: the blocking request on a helper thread, status polling and
// drawing on the caller's.
#include "src/cli/watched_call.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "src/cli/progress_line.h"
#include "src/control/control_client.h"

namespace dynamicfs {

Result<nlohmann::json> watched_call(const std::string& mountpoint, const nlohmann::json& request,
                                    const ProgressOf& progress_of) {
  DFS_ASSIGN_OR_RETURN(auto client, ControlClient::connect_mount(mountpoint));
  ProgressLine bar;
  if (!bar.tty()) return client->call(request);

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Result<nlohmann::json> reply = Status::error(EIO, "no reply");
  std::thread worker([&] {
    auto r = client->call(request);
    std::lock_guard lk(mu);
    reply = std::move(r);
    finished = true;
    cv.notify_all();
  });
  auto watcher = ControlClient::connect_mount(mountpoint);
  std::unique_lock lk(mu);
  while (!finished) {
    cv.wait_for(lk, std::chrono::milliseconds(500));
    if (finished || !watcher.is_ok()) continue;
    lk.unlock();
    auto st = watcher.value()->call({{"op", "status"}}, ControlClient::kQuickTimeoutMs);
    if (st.is_ok()) {
      auto p = progress_of(st.value());
      if (p) bar.update(p->first, p->second);
    }
    lk.lock();
  }
  lk.unlock();
  worker.join();
  bar.done();
  return reply;
}

}  // namespace dynamicfs

// ControlServer: the daemon's Unix control socket (mode 0600 in the volume
// directory). Requests and replies are single JSON lines; the daemon supplies
// the handler, so this layer knows nothing of the filesystem. A "wait_exit"
// request is answered only when the daemon finishes, with its exit code, so
// `dynamicfs umount` can wait for the final flush.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/common/status.h"

namespace dynamicfs {

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  static constexpr int kProtocolVersion = 1;

  ControlServer(std::string socket_path, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  Status start();
  // Answers every pending wait_exit with the exit code, then stops.
  void finish(int exit_code);

 private:
  void accept_loop();
  void serve(int fd);

  std::string m_path;
  Handler m_handler;
  int m_listen_fd = -1;
  int m_wake_pipe[2] = {-1, -1};
  std::thread m_thread;
  std::mutex m_mutex;
  std::vector<int> m_waiters;
  std::set<int> m_client_fds;  // connections being served (not waiters)
  std::vector<std::thread> m_clients;
  std::atomic<bool> m_stopping{false};
};

}  // namespace dynamicfs

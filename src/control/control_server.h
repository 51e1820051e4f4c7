// ControlServer: the daemon's Unix control socket (mode 0600 in the volume
// directory), served with Boost.Asio. Requests and replies are single JSON
// lines ({"op": ..., "version": 1}); the daemon supplies the handler, so this
// layer knows nothing of the filesystem. Handlers run on a small thread pool,
// so a long request (a scrub) never delays a status request. Only root and
// the user who runs the daemon may connect; the mode bits refuse others
// first, and peer credentials are checked again on every connection.
//
// A "wait_exit" request is answered only when the daemon finishes, with its
// exit code, so `dynamicfs umount` can wait for the final flush; with
// "ack": true it first answers {"waiting": true} once the wait is registered.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "src/common/status.h"

namespace dynamicfs {

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  static constexpr int kProtocolVersion = 1;
  static constexpr unsigned kHandlerThreads = 4;

  ControlServer(std::string socket_path, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  Status start();
  // Stops accepting requests and waits for running handlers; connections
  // waiting for the exit stay open. Call before tearing down what the
  // handler uses.
  void stop_serving();
  // Answers every pending wait_exit with the exit code, then stops.
  void finish(int exit_code);

  // The event loop, for the daemon's periodic jobs (timers). Timers must be
  // destroyed before this server.
  boost::asio::io_context& context() { return m_io; }

 private:
  class Session;
  void accept_next();
  void run_request(std::shared_ptr<Session> session, nlohmann::json request);
  // Runs `fn` on the event loop thread and waits for it.
  void run_on_loop(std::function<void()> fn);

  std::string m_path;
  Handler m_handler;
  uid_t m_owner;
  boost::asio::io_context m_io;
  std::optional<boost::asio::local::stream_protocol::acceptor> m_acceptor;
  boost::asio::thread_pool m_pool{kHandlerThreads};
  std::thread m_thread;
  // Touched only on the loop thread.
  std::vector<std::weak_ptr<Session>> m_sessions;
  std::vector<std::shared_ptr<Session>> m_waiters;  // wait_exit connections
  bool m_serving = false;
  bool m_started = false;
  bool m_finished = false;
};

}  // namespace dynamicfs

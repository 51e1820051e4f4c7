// ControlServer: Asio sessions, one request at a time per connection.
#include "src/control/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <future>
#include <istream>

#include "src/control/control_client.h"

namespace dynamicfs {

namespace asio = boost::asio;
using stream_protocol = asio::local::stream_protocol;
using nlohmann::json;

class ControlServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ControlServer& server, stream_protocol::socket socket)
      : m_server(server), m_socket(std::move(socket)) {}

  void start() {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(m_socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != m_server.m_owner)) {
      reply({{"error", "permission denied: only root and uid " + std::to_string(m_server.m_owner) +
                           " (the user running the daemon) may use the control socket"},
             {"errno", EACCES}},
            /*then_read=*/false);
      return;
    }
    read_next();
  }

  void read_next() {
    auto self = shared_from_this();
    asio::async_read_until(m_socket, m_buffer, '\n',
                           [self](const boost::system::error_code& ec, size_t) {
                             if (ec) return;  // closed by the peer or by stop_serving()
                             self->on_line();
                           });
  }

  // Writes one reply line; afterwards reads the next request or closes.
  void reply(json j, bool then_read) {
    j["version"] = kProtocolVersion;
    auto out = std::make_shared<std::string>(j.dump() + "\n");
    auto self = shared_from_this();
    asio::async_write(m_socket, asio::buffer(*out),
                      [self, out, then_read](const boost::system::error_code& ec, size_t) {
                        if (ec || !then_read || !self->m_server.m_serving) {
                          self->close();
                          return;
                        }
                        self->read_next();
                      });
  }

  // Synchronous final reply (used by finish() on the loop thread).
  void reply_now(const json& j) {
    std::string out = j.dump() + "\n";
    boost::system::error_code ec;
    asio::write(m_socket, asio::buffer(out), ec);
    close();
  }

  void close() {
    boost::system::error_code ec;
    m_socket.shutdown(stream_protocol::socket::shutdown_both, ec);
    m_socket.close(ec);
  }

  bool waiting_for_exit() const { return m_wait_exit; }

 private:
  void on_line() {
    std::istream in(&m_buffer);
    std::string line;
    std::getline(in, line);
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object() || !req.contains("op") || !req["op"].is_string()) {
      reply({{"error", "malformed request (expected one JSON object with an \"op\")"},
             {"errno", EINVAL}},
            true);
      return;
    }
    if (req.value("version", kProtocolVersion) > kProtocolVersion) {
      reply({{"error", "unsupported control protocol version " + req["version"].dump() +
                           " (daemon speaks " + std::to_string(kProtocolVersion) + ")"},
             {"errno", EPROTONOSUPPORT}},
            true);
      return;
    }
    if (req["op"] == "wait_exit") {
      m_wait_exit = true;  // answered by finish(); the server keeps us alive
      m_server.m_waiters.push_back(shared_from_this());
      // The client unmounts only after this line: from here on its wait
      // is registered, so the exit status cannot be missed.
      if (req.value("ack", false)) {
        std::string ack = json{{"waiting", true}, {"version", kProtocolVersion}}.dump() + "\n";
        boost::system::error_code ec;
        asio::write(m_socket, asio::buffer(ack), ec);
      }
      return;
    }
    m_server.run_request(shared_from_this(), std::move(req));
  }

  ControlServer& m_server;
  stream_protocol::socket m_socket;
  asio::streambuf m_buffer{1u << 20};
  bool m_wait_exit = false;
};

ControlServer::ControlServer(std::string socket_path, Handler handler)
    : m_path(std::move(socket_path)), m_handler(std::move(handler)), m_owner(::geteuid()) {}

ControlServer::~ControlServer() {
  finish(1);
}

Status ControlServer::start() {
  if (m_path.rfind(ControlClient::kRunDir, 0) == 0 && ::mkdir(ControlClient::kRunDir, 0755) != 0 &&
      errno != EEXIST) {
    return Status::from_errno(std::string("cannot create ") + ControlClient::kRunDir);
  }
  ::unlink(m_path.c_str());
  boost::system::error_code ec;
  m_acceptor.emplace(m_io);
  m_acceptor->open(stream_protocol(), ec);
  if (ec) return Status::error(ec.value(), "control socket: " + ec.message());
  mode_t old = ::umask(0177);
  m_acceptor->bind(stream_protocol::endpoint(m_path), ec);
  ::umask(old);
  if (ec)
    return Status::error(ec.value(), "cannot bind control socket " + m_path + ": " + ec.message());
  ::chmod(m_path.c_str(), 0600);
  m_acceptor->listen(16, ec);
  if (ec) return Status::error(ec.value(), "cannot listen on " + m_path + ": " + ec.message());
  m_serving = true;
  m_started = true;
  accept_next();
  m_thread = std::thread([this] {
    auto guard = asio::make_work_guard(m_io);
    m_io.run();
  });
  return Status::ok();
}

void ControlServer::accept_next() {
  m_acceptor->async_accept(
      [this](const boost::system::error_code& ec, stream_protocol::socket socket) {
        if (ec || !m_serving) return;
        auto session = std::make_shared<Session>(*this, std::move(socket));
        std::erase_if(m_sessions, [](const auto& w) { return w.expired(); });
        m_sessions.push_back(session);
        session->start();
        accept_next();
      });
}

void ControlServer::run_request(std::shared_ptr<Session> session, json request) {
  asio::post(m_pool, [this, session, request = std::move(request)] {
    json reply;
    try {
      reply = m_handler(request);
    } catch (const std::exception& e) {
      // A request with fields of the wrong type, for example.
      reply = {{"error", std::string("bad request: ") + e.what()}, {"errno", EINVAL}};
    }
    asio::post(m_io, [session, reply = std::move(reply)]() mutable {
      session->reply(std::move(reply), true);
    });
  });
}

void ControlServer::run_on_loop(std::function<void()> fn) {
  std::promise<void> done;
  asio::post(m_io, [&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void ControlServer::stop_serving() {
  if (!m_started || !m_serving) return;
  run_on_loop([this] {
    m_serving = false;
    boost::system::error_code ec;
    m_acceptor->close(ec);
    for (auto& w : m_sessions) {
      if (auto s = w.lock(); s && !s->waiting_for_exit()) s->close();
    }
  });
  m_pool.join();  // handlers still running finish first
}

void ControlServer::finish(int exit_code) {
  if (!m_started || m_finished) return;
  m_finished = true;
  stop_serving();
  run_on_loop([this, exit_code] {
    for (auto& s : m_waiters) s->reply_now({{"exit", exit_code}, {"version", kProtocolVersion}});
    m_waiters.clear();
    m_sessions.clear();
  });
  ::unlink(m_path.c_str());
  m_io.stop();
  if (m_thread.joinable()) m_thread.join();
}

}  // namespace dynamicfs

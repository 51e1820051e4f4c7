// HttpServer: a small HTTP/1.1 server on Boost.Beast, one thread, keep-alive,
// for the daemon's Prometheus endpoint (MetricsHttpServer) and a lab-sync
// publisher's feed. The owner answers each request with a Handler; the
// server does the sockets, timeouts, HEAD and size limits. It binds to
// loopback unless a host is given.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string path;    // the target without its query
  std::string target;  // as sent
  std::string authorization;
  std::string peer;    // the client's address
  bool again = false;  // asked again: the last reply's `ready` said not yet
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A long poll: while `ready` returns false (checked every 50 ms, for at
  // most `max_wait`), the reply is held back and the handler asked again;
  // what it answers when ready (or at the deadline) is sent.
  std::function<bool()> ready;
  std::chrono::milliseconds max_wait{0};

  static HttpReply text(int status, std::string body) {
    HttpReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

class HttpServer {
 public:
  // Called on the server's thread, one request at a time.
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  // "9567" -> DEFAULT_HOST:9567; "0.0.0.0:9567", "[::1]:9567" as given.
  // WHAT names the option in errors.
  static Result<boost::asio::ip::tcp::endpoint> parse_listen(
      const std::string& spec, const std::string& what,
      const std::string& default_host = "127.0.0.1");

  explicit HttpServer(Handler handler) : m_handler(std::move(handler)) {}
  ~HttpServer() { stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  Status start(const std::string& listen_spec, const std::string& what);
  void stop();
  // The bound address ("127.0.0.1:9567"), useful with port 0.
  std::string endpoint() const { return m_endpoint; }
  int port() const { return m_port; }

 private:
  class Session;
  void accept_next();

  Handler m_handler;
  boost::asio::io_context m_io;
  std::optional<boost::asio::ip::tcp::acceptor> m_acceptor;
  boost::asio::steady_timer m_retry{m_io};  // re-arms accept after an error
  std::thread m_thread;
  std::string m_endpoint;
  int m_port = 0;
};

}  // namespace dynamicfs

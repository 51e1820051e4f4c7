// HttpServer: one Beast session per connection, keep-alive supported.
#include "src/control/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>

#include "src/common/host_port.h"

namespace dynamicfs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Handler& handler)
      : m_stream(std::move(socket)), m_timer(m_stream.get_executor()), m_handler(handler) {}

  void read_next() {
    m_deadline.reset();
    m_parser.emplace();
    m_parser->body_limit(64 << 10);  // requests carry no real body
    m_stream.expires_after(std::chrono::seconds(30));
    auto self = shared_from_this();
    http::async_read(m_stream, m_buffer, *m_parser, [self](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->respond();
    });
  }

 private:
  void respond() {
    const auto& req = m_parser->get();
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.path = in.target.substr(0, in.target.find('?'));
    in.authorization = std::string(req[http::field::authorization]);
    beast::error_code ec;
    auto remote = m_stream.socket().remote_endpoint(ec);
    if (!ec) in.peer = remote.address().to_string();
    const bool head = req.method() == http::verb::head;
    if (head) in.method = "GET";  // answered as GET without the body
    in.again = m_deadline.has_value();
    HttpReply out = m_handler(in);
    if (out.ready) {
      const auto now = std::chrono::steady_clock::now();
      if (!m_deadline) m_deadline = now + out.max_wait;
      if (now < *m_deadline && !out.ready()) {
        m_timer.expires_after(std::chrono::milliseconds(50));
        auto self = shared_from_this();
        m_timer.async_wait([self](beast::error_code ec) {
          if (!ec) self->respond();
        });
        return;
      }
    }

    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->keep_alive(req.keep_alive());
    res->result(static_cast<http::status>(out.status));
    res->set(http::field::server, "dynamicfs");
    res->set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res->set(k, v);
    res->body() = std::move(out.body);
    res->prepare_payload();
    if (head) res->body().clear();
    auto self = shared_from_this();
    http::async_write(m_stream, *res, [self, res](beast::error_code wec, size_t) {
      if (wec || !res->keep_alive()) return self->close();
      self->read_next();
    });
  }

  void close() {
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream m_stream;
  asio::steady_timer m_timer;  // a held-back long poll's next look
  std::optional<std::chrono::steady_clock::time_point> m_deadline;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  const Handler& m_handler;
};

Result<tcp::endpoint> HttpServer::parse_listen(const std::string& spec, const std::string& what,
                                               const std::string& default_host) {
  DFS_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(spec, what, default_host));
  return hp.endpoint();
}

Status HttpServer::start(const std::string& listen_spec, const std::string& what) {
  DFS_ASSIGN_OR_RETURN(tcp::endpoint ep, parse_listen(listen_spec, what));
  beast::error_code ec;
  m_acceptor.emplace(m_io);
  m_acceptor->open(ep.protocol(), ec);
  if (!ec) m_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m_acceptor->bind(ep, ec);
  if (!ec) m_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(ec.value(),
                         "cannot listen on " + listen_spec + " (" + what + "): " + ec.message());
  }
  auto bound = m_acceptor->local_endpoint(ec);
  std::string host = bound.address().to_string();
  if (bound.address().is_v6()) host = "[" + host + "]";
  m_port = bound.port();
  m_endpoint = host + ":" + std::to_string(bound.port());
  accept_next();
  m_thread = std::thread([this] {
    auto guard = asio::make_work_guard(m_io);
    m_io.run();
  });
  return Status::ok();
}

void HttpServer::accept_next() {
  m_acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !m_acceptor->is_open()) return;  // stop()
    if (ec) {
      // Out of descriptors (EMFILE) and the like: accept again shortly,
      // never stop serving for good.
      m_retry.expires_after(std::chrono::milliseconds(100));
      m_retry.async_wait([this](beast::error_code tec) {
        if (!tec) accept_next();
      });
      return;
    }
    std::make_shared<Session>(std::move(socket), m_handler)->read_next();
    accept_next();
  });
}

void HttpServer::stop() {
  if (!m_thread.joinable()) return;
  m_io.stop();
  m_thread.join();
  // No thread runs the loop any more, so the acceptor may be closed here;
  // new connections are refused from now on.
  beast::error_code ec;
  m_acceptor->close(ec);
}

}  // namespace dynamicfs

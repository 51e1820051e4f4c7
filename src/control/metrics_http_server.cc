// MetricsHttpServer: one Beast session per connection, keep-alive supported.
#include "src/control/metrics_http_server.h"

#include <boost/asio/executor_work_guard.hpp>
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

class MetricsHttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Render& render)
      : m_stream(std::move(socket)), m_render(render) {}

  void read_next() {
    m_request = {};
    m_stream.expires_after(std::chrono::seconds(30));
    auto self = shared_from_this();
    http::async_read(m_stream, m_buffer, m_request, [self](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->respond();
    });
  }

 private:
  void respond() {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(m_request.version());
    res->keep_alive(m_request.keep_alive());
    res->set(http::field::server, "dynamicfs");
    std::string_view target(m_request.target().data(), m_request.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (target != "/metrics") {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain");
      res->body() = "not found; metrics are at /metrics\n";
    } else if (m_request.method() != http::verb::get && m_request.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain");
      res->body() = "method not allowed\n";
    } else {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res->body() = m_render();
      if (m_request.method() == http::verb::head) {
        res->content_length(res->body().size());
        res->body().clear();
      }
    }
    if (m_request.method() != http::verb::head) res->prepare_payload();
    auto self = shared_from_this();
    http::async_write(m_stream, *res, [self, res](beast::error_code ec, size_t) {
      if (ec || !res->keep_alive()) return self->close();
      self->read_next();
    });
  }

  void close() {
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer;
  http::request<http::string_body> m_request;
  const Render& m_render;
};

Result<tcp::endpoint> MetricsHttpServer::parse_listen(const std::string& spec) {
  DFS_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(spec, "metrics_listen", "127.0.0.1"));
  return hp.endpoint();
}

Status MetricsHttpServer::start(const std::string& listen_spec) {
  DFS_ASSIGN_OR_RETURN(tcp::endpoint ep, parse_listen(listen_spec));
  beast::error_code ec;
  m_acceptor.emplace(m_io);
  m_acceptor->open(ep.protocol(), ec);
  if (!ec) m_acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) m_acceptor->bind(ep, ec);
  if (!ec) m_acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::error(ec.value(),
                         "cannot serve metrics on " + listen_spec + ": " + ec.message());
  }
  auto bound = m_acceptor->local_endpoint(ec);
  std::string host = bound.address().to_string();
  if (bound.address().is_v6()) host = "[" + host + "]";
  m_endpoint = host + ":" + std::to_string(bound.port());
  accept_next();
  m_thread = std::thread([this] {
    auto guard = asio::make_work_guard(m_io);
    m_io.run();
  });
  return Status::ok();
}

void MetricsHttpServer::accept_next() {
  m_acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed by stop()
    std::make_shared<Session>(std::move(socket), m_render)->read_next();
    accept_next();
  });
}

void MetricsHttpServer::stop() {
  if (!m_thread.joinable()) return;
  m_io.stop();
  m_thread.join();
  // No thread runs the loop any more, so the acceptor may be closed here;
  // new connections are refused from now on.
  beast::error_code ec;
  m_acceptor->close(ec);
}

}  // namespace dynamicfs

// MetricsHttpServer: the optional HTTP endpoint for Prometheus scrapers
// (`mount -o metrics_listen=[HOST:]PORT`), served with Boost.Beast on its own
// thread. GET /metrics answers the text exposition; anything else is 404 or
// 405. It binds to loopback unless a host is given.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "src/common/result.h"

namespace dynamicfs {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // "9567" -> 127.0.0.1:9567; "0.0.0.0:9567", "[::1]:9567" as given.
  static Result<boost::asio::ip::tcp::endpoint> parse_listen(const std::string& spec);

  explicit MetricsHttpServer(Render render) : m_render(std::move(render)) {}
  ~MetricsHttpServer() { stop(); }
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  Status start(const std::string& listen_spec);
  void stop();
  // The bound address ("127.0.0.1:9567"), useful with port 0.
  std::string endpoint() const { return m_endpoint; }

 private:
  class Session;
  void accept_next();

  Render m_render;
  boost::asio::io_context m_io;
  std::optional<boost::asio::ip::tcp::acceptor> m_acceptor;
  std::thread m_thread;
  std::string m_endpoint;
};

}  // namespace dynamicfs

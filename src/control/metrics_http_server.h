// MetricsHttpServer: the optional HTTP endpoint for Prometheus scrapers
// (`mount -o metrics_listen=[HOST:]PORT`), an HttpServer that answers GET
// /metrics with the text exposition; anything else is 404 or 405. It binds
// to loopback unless a host is given.
#pragma once

#include <functional>
#include <string>

#include "src/common/result.h"
#include "src/control/http_server.h"

namespace dynamicfs {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // "9567" -> 127.0.0.1:9567; "0.0.0.0:9567", "[::1]:9567" as given.
  static Result<boost::asio::ip::tcp::endpoint> parse_listen(const std::string& spec) {
    return HttpServer::parse_listen(spec, "metrics_listen");
  }
  // The reply to one request for the metrics at /metrics.
  static HttpReply answer(const HttpRequest& req, const Render& render);

  explicit MetricsHttpServer(Render render)
      : m_server([render = std::move(render)](const HttpRequest& r) { return answer(r, render); }) {
  }

  Status start(const std::string& listen_spec) { return m_server.start(listen_spec, "metrics"); }
  void stop() { m_server.stop(); }
  std::string endpoint() const { return m_server.endpoint(); }

 private:
  HttpServer m_server;
};

}  // namespace dynamicfs

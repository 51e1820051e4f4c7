// MetricsHttpServer: the /metrics route.
#include "src/control/metrics_http_server.h"

namespace dynamicfs {

HttpReply MetricsHttpServer::answer(const HttpRequest& req, const Render& render) {
  if (req.path != "/metrics") return HttpReply::text(404, "not found; metrics are at /metrics\n");
  if (req.method != "GET") {
    HttpReply r = HttpReply::text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  HttpReply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = render();
  return r;
}

}  // namespace dynamicfs

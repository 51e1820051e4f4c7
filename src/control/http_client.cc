// HttpClient: connect, write, read, each under one deadline on a private
// io_context (the asynchronous calls are what honour a Beast timeout).
#include "src/control/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <optional>

#include "src/common/host_port.h"

namespace dynamicfs {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Result<HttpUrl> HttpUrl::parse(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0)
    return Status::error(EINVAL, "feed URL '" + url + "' must start with http://");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  HttpUrl u;
  u.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find(':') == std::string::npos ||
      (authority.front() == '[' && authority.back() == ']'))
    authority += ":80";
  DFS_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(authority, "feed URL"));
  DFS_RETURN_IF_ERROR(hp.endpoint().status());
  if (hp.port == 0) return Status::error(EINVAL, "feed URL '" + url + "': port 0");
  u.host = hp.host;
  u.port = hp.port;
  return u;
}

std::string HttpUrl::host_port() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HttpResponse> HttpClient::get(const HttpUrl& url, const std::string& path,
                                     const std::map<std::string, std::string>& headers,
                                     std::chrono::milliseconds timeout, size_t max_body,
                                     const std::function<bool()>& keep_going) {
  const std::string target = path.empty() ? url.path : path;
  boost::system::error_code addr_ec;
  auto address = asio::ip::make_address(url.host, addr_ec);
  if (addr_ec) return Status::error(EINVAL, "'" + url.host + "' is not a numeric address");
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, url.host_port());
  req.set(http::field::user_agent, "dynamicfs");
  for (const auto& [k, v] : headers) req.set(k, v);
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  beast::error_code result;
  const std::string where = "http://" + url.host_port() + target;
  stream.expires_after(timeout);
  stream.async_connect(
      tcp::endpoint(address, static_cast<uint16_t>(url.port)), [&](beast::error_code ec) {
        if (ec) {
          result = ec;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code wec, size_t) {
          if (wec) {
            result = wec;
            return;
          }
          // Boost 1.74's parser does not hold a declared
          // Content-Length to body_limit: checked here.
          http::async_read_header(stream, buffer, parser, [&](beast::error_code hec, size_t) {
            if (!hec && parser.content_length() && *parser.content_length() > max_body)
              hec = http::error::body_limit;
            if (hec) {
              result = hec;
              return;
            }
            http::async_read(stream, buffer, parser,
                             [&](beast::error_code rec, size_t) { result = rec; });
          });
        });
      });
  bool cancelled = false;
  while (!io.stopped()) {
    io.run_for(std::chrono::milliseconds(100));
    if (!cancelled && !io.stopped() && keep_going && !keep_going()) {
      cancelled = true;
      stream.cancel();
    }
  }
  if (cancelled) return Status::error(ECANCELED, where + ": abandoned");
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  if (result == beast::error::timeout)
    return Status::error(ETIMEDOUT,
                         where + ": no answer within " + std::to_string(timeout.count()) + " ms");
  if (result == http::error::body_limit)
    return Status::error(
        EFBIG, where + ": the answer is larger than " + std::to_string(max_body) + " bytes");
  if (result) {
    int err = result.category() == boost::system::system_category() ? result.value() : EPROTO;
    return Status::error(err, where + ": " + result.message());
  }
  auto& res = parser.get();
  if (res.body().size() > max_body)
    return Status::error(
        EFBIG, where + ": the answer is larger than " + std::to_string(max_body) + " bytes");
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace dynamicfs

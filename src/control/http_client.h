// HttpClient: one HTTP/1.1 GET with a deadline, on Boost.Beast, for a
// lab-sync follower reading its publisher's feed. URLs are
// http://HOST:PORT/PATH with a numeric HOST (nothing is looked up).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "src/common/result.h"

namespace dynamicfs {

struct HttpUrl {
  std::string host;  // without IPv6 brackets
  int port = 80;
  std::string path = "/";

  // "http://10.0.0.1:8086/feed", "http://[::1]:80/"; EINVAL otherwise.
  static Result<HttpUrl> parse(const std::string& url);
  std::string host_port() const;  // "10.0.0.1:8086", "[::1]:80"
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class HttpClient {
 public:
  // GETs PATH on URL's host (PATH replaces the URL's path when not empty);
  // a body over MAX_BODY bytes, a timeout or a connection error is an
  // error Status.
  // KEEP_GOING (optional) is called every 100 ms while waiting (a long
  // poll); false abandons the request (ECANCELED).
  static Result<HttpResponse> get(const HttpUrl& url, const std::string& path,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::milliseconds timeout, size_t max_body,
                                  const std::function<bool()>& keep_going = nullptr);
};

}  // namespace dynamicfs

// HostPort: the "HOST:PORT" / "[IPv6]:PORT" (or bare "PORT") strings that
// operators give for listen addresses and peers, parsed once for every
// option that takes one. Hosts are numeric addresses: nothing is looked up.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>

#include "src/common/result.h"

namespace dynamicfs {

class HostPort {
 public:
  // WHAT names the option in error messages ("--peer", "metrics_listen").
  // A bare "PORT" is accepted only when DEFAULT_HOST is given.
  static Result<HostPort> parse(const std::string& spec, const std::string& what,
                                const std::string& default_host = "");

  // The numeric address as an endpoint; EINVAL if HOST is not an address.
  Result<boost::asio::ip::tcp::endpoint> endpoint() const;

  std::string host;  // without IPv6 brackets
  uint16_t port = 0;

 private:
  std::string m_spec, m_what;
};

}  // namespace dynamicfs

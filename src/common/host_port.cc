// HostPort: parsing and address conversion.
#include "src/common/host_port.h"

#include <cstdlib>

namespace dynamicfs {

Result<HostPort> HostPort::parse(const std::string& spec, const std::string& what,
                                 const std::string& default_host) {
  HostPort hp;
  hp.m_spec = spec;
  hp.m_what = what;
  std::string port;
  if (!spec.empty() && spec.front() == '[') {
    auto close = spec.find("]:");
    if (close == std::string::npos)
      return Status::error(EINVAL, what + " '" + spec + "': expected [ADDRESS]:PORT");
    hp.host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else if (auto colon = spec.rfind(':'); colon != std::string::npos) {
    hp.host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  } else if (!default_host.empty()) {
    hp.host = default_host;
    port = spec;
  } else {
    return Status::error(EINVAL, what + " '" + spec + "': expected HOST:PORT");
  }
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535)
    return Status::error(EINVAL, what + " '" + spec + "': invalid port '" + port + "'");
  hp.port = static_cast<uint16_t>(p);
  return hp;
}

Result<boost::asio::ip::tcp::endpoint> HostPort::endpoint() const {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(host, ec);
  if (ec) {
    return Status::error(EINVAL, m_what + " '" + m_spec + "': '" + host + "' is not an IP address");
  }
  return boost::asio::ip::tcp::endpoint(addr, port);
}

}  // namespace dynamicfs

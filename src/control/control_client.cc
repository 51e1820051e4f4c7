// ControlClient: mountinfo parsing and the client end of the socket.
#include "src/control/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dynamicfs {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

ControlClient::~ControlClient() {
  if (m_fd >= 0) ::close(m_fd);
}

Result<MountInfo> ControlClient::find_mount(const std::string& mountpoint) {
  char resolved[PATH_MAX];
  if (::realpath(mountpoint.c_str(), resolved) == nullptr)
    return Status::from_errno("cannot resolve " + mountpoint);
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  MountInfo found;
  bool any = false;
  while (std::getline(in, line)) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    std::istringstream ls(line);
    std::string id, parent, dev, root, mp;
    ls >> id >> parent >> dev >> root >> mp;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype, source;
    rest >> fstype >> source;
    if (unescape(mp) != resolved) continue;
    if (fstype != "fuse.dynamicfs") {
      any = false;  // a later mount on the same path hides earlier ones
      continue;
    }
    found.mountpoint = resolved;
    found.volume_dir = unescape(source);
    any = true;
  }
  if (!any)
    return Status::error(ENOENT, std::string(resolved) + " is not a mounted dynamicfs filesystem");
  return found;
}

Result<std::unique_ptr<ControlClient>> ControlClient::connect(const std::string& volume_dir) {
  std::string path = socket_path(volume_dir);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Status::error(ENAMETOOLONG, "control socket path too long");
  std::strcpy(addr.sun_path, path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::from_errno("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status st = Status::from_errno("cannot reach the dynamicfs daemon at " + path);
    ::close(fd);
    return st;
  }
  return std::unique_ptr<ControlClient>(new ControlClient(fd));
}

Status ControlClient::send(const nlohmann::json& request) {
  std::string out = request.dump() + "\n";
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(m_fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::from_errno("control socket write");
    off += static_cast<size_t>(n);
  }
  return Status::ok();
}

Result<nlohmann::json> ControlClient::receive() {
  for (;;) {
    auto nl = m_buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = m_buffer.substr(0, nl);
      m_buffer.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) return Status::error(EPROTO, "malformed reply from daemon");
      return j;
    }
    char buf[4096];
    ssize_t n = ::read(m_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno("control socket read");
    if (n == 0) return Status::error(ECONNRESET, "daemon closed the control connection");
    m_buffer.append(buf, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> ControlClient::call(const nlohmann::json& request) {
  DFS_RETURN_IF_ERROR(send(request));
  return receive();
}

}  // namespace dynamicfs

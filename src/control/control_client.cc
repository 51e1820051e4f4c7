// ControlClient: mountinfo parsing and the client end of the socket.
#include "src/control/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "src/control/control_server.h"

namespace dynamicfs {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
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

std::vector<MountEntry> ControlClient::mount_table() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mp;
    head >> id >> parent >> dev >> root >> mp;
    std::istringstream rest(line.substr(dash + 3));
    std::string fstype, source;
    rest >> fstype >> source;
    out.push_back({dev, unescape_mountinfo(mp), fstype, unescape_mountinfo(source)});
  }
  return out;
}

ControlClient::~ControlClient() {
  if (m_fd >= 0) ::close(m_fd);
}

namespace {

// The dynamicfs mount at PATH (exact string match on the mountinfo field).
std::optional<MountInfo> scan_mountinfo(const std::string& path) {
  std::optional<MountInfo> found;
  for (const auto& m : ControlClient::mount_table()) {
    if (m.mountpoint != path) continue;
    if (m.fstype != "fuse.dynamicfs") {
      found.reset();  // a later mount on the same path hides earlier ones
      continue;
    }
    found = MountInfo{path, m.source};
  }
  return found;
}

}  // namespace

Result<MountInfo> ControlClient::find_mount(const std::string& mountpoint) {
  std::error_code ec;
  std::string lexical = std::filesystem::absolute(mountpoint, ec).lexically_normal().string();
  while (lexical.size() > 1 && lexical.back() == '/') lexical.pop_back();
  if (!ec) {
    if (auto m = scan_mountinfo(lexical)) return *m;
  }
  char resolved[PATH_MAX];
  if (::realpath(mountpoint.c_str(), resolved) == nullptr)
    return Status::from_errno("cannot resolve " + mountpoint);
  if (auto m = scan_mountinfo(resolved)) return *m;
  return Status::error(ENOENT, std::string(resolved) + " is not a mounted dynamicfs filesystem");
}

std::string ControlClient::socket_path(const std::string& volume_dir) {
  std::string in_volume = volume_dir + "/control.sock";
  if (in_volume.size() < sizeof(sockaddr_un{}.sun_path)) return in_volume;
  uint64_t h = 14695981039346656037ull;  // FNV-1a of the volume path
  for (unsigned char c : volume_dir) h = (h ^ c) * 1099511628211ull;
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx.sock", static_cast<unsigned long long>(h));
  return std::string(kRunDir) + "/" + name;
}

Result<std::unique_ptr<ControlClient>> ControlClient::connect(const std::string& volume_dir) {
  std::string path = socket_path(volume_dir);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Status::error(ENAMETOOLONG, "control socket path too long");
  std::strcpy(addr.sun_path, path.c_str());
  // Non-blocking connect: a daemon that stopped accepting (full backlog)
  // gives EAGAIN at once instead of a hang.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::from_errno("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    struct stat st {};
    switch (err) {
      case EACCES:
      case EPERM:
        if (::stat(path.c_str(), &st) == 0) {
          return Status::error(err, "permission denied: the control socket " + path +
                                        " belongs to uid " + std::to_string(st.st_uid) +
                                        "; run as root or as that user");
        }
        return Status::error(err, "permission denied: cannot reach the control socket " + path);
      case ECONNREFUSED:
      case ENOENT:
        return Status::error(err, "the dynamicfs daemon of " + volume_dir + " is not running (" +
                                      std::strerror(err) + " on " + path +
                                      "); if the mount is stale, run "
                                      "`dynamicfs umount MOUNTPOINT`");
      case EAGAIN:
        return Status::error(err, "the dynamicfs daemon at " + path +
                                      " is not accepting connections (hung or overloaded)");
      default:
        return Status::error(
            err, "cannot reach the dynamicfs daemon at " + path + ": " + std::strerror(err));
    }
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return std::unique_ptr<ControlClient>(new ControlClient(fd, path));
}

Result<std::unique_ptr<ControlClient>> ControlClient::connect_mount(const std::string& mountpoint) {
  DFS_ASSIGN_OR_RETURN(MountInfo info, find_mount(mountpoint));
  return connect(info.volume_dir);
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

Result<nlohmann::json> ControlClient::receive(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto nl = m_buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = m_buffer.substr(0, nl);
      m_buffer.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return Status::error(EPROTO, "malformed reply from the daemon");
      if (j.contains("error")) {
        int err = j.value("errno", EIO);
        std::string msg =
            j["error"].is_string() ? j["error"].get<std::string>() : j["error"].dump();
        return Status::error(err > 0 ? err : EIO, msg);
      }
      return j;
    }
    int wait = -1;
    if (timeout_ms >= 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        return Status::error(ETIMEDOUT, "the dynamicfs daemon did not answer within " +
                                            std::to_string(timeout_ms) + " ms (" + m_path +
                                            "); it may be hung or stopped");
      }
      wait = static_cast<int>(left);
    }
    pollfd pfd{m_fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, wait);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Status::from_errno("control socket poll");
    if (rc == 0) continue;  // the deadline check above reports it
    char buf[4096];
    ssize_t n = ::read(m_fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::from_errno("control socket read");
    if (n == 0) return Status::error(ECONNRESET, "the daemon closed the control connection");
    m_buffer.append(buf, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> ControlClient::call(const nlohmann::json& request, int timeout_ms) {
  nlohmann::json req = request;
  req["version"] = ControlServer::kProtocolVersion;
  Status sent = send(req);
  if (!sent.is_ok()) {
    // The daemon may have refused the connection with a reply (permission
    // denied) and closed it before our write: that reply says why.
    auto why = receive(200);
    if (!why.is_ok() && why.err() != ECONNRESET && why.err() != ETIMEDOUT) return why.status();
    return sent;
  }
  return receive(timeout_ms);
}

}  // namespace dynamicfs

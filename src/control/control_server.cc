// ControlServer: poll-based accept loop, one short-lived thread per client.
#include "src/control/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace dynamicfs {

namespace {

bool read_line(int fd, std::string* line) {
  char c;
  line->clear();
  while (line->size() < (1u << 20)) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    line->push_back(c);
  }
  return false;
}

void write_line(int fd, const std::string& s) {
  std::string out = s + "\n";
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

ControlServer::ControlServer(std::string socket_path, Handler handler)
    : m_path(std::move(socket_path)), m_handler(std::move(handler)) {}

ControlServer::~ControlServer() {
  finish(1);
}

Status ControlServer::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (m_path.size() >= sizeof(addr.sun_path))
    return Status::error(ENAMETOOLONG, "control socket path too long: " + m_path);
  std::strcpy(addr.sun_path, m_path.c_str());
  ::unlink(m_path.c_str());
  m_listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_listen_fd < 0) return Status::from_errno("control socket");
  mode_t old = ::umask(0177);
  int rc = ::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (rc != 0) return Status::from_errno("cannot bind control socket " + m_path);
  ::chmod(m_path.c_str(), 0600);
  if (::listen(m_listen_fd, 16) != 0) return Status::from_errno("cannot listen on " + m_path);
  if (::pipe2(m_wake_pipe, O_CLOEXEC) != 0) return Status::from_errno("pipe");
  m_thread = std::thread([this] { accept_loop(); });
  return Status::ok();
}

void ControlServer::accept_loop() {
  while (!m_stopping) {
    pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_wake_pipe[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lk(m_mutex);
    m_client_fds.insert(fd);
    m_clients.emplace_back([this, fd] { serve(fd); });
  }
}

void ControlServer::serve(int fd) {
  std::string line;
  while (read_line(fd, &line)) {
    nlohmann::json req = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object() || !req.contains("op")) {
      write_line(fd, nlohmann::json{{"error", "malformed request"}}.dump());
      continue;
    }
    if (req["op"] == "wait_exit") {
      std::lock_guard lk(m_mutex);
      if (m_stopping) break;
      m_client_fds.erase(fd);
      m_waiters.push_back(fd);
      return;  // answered by finish()
    }
    nlohmann::json reply = m_handler(req);
    reply["version"] = kProtocolVersion;
    write_line(fd, reply.dump());
  }
  {
    std::lock_guard lk(m_mutex);
    m_client_fds.erase(fd);
  }
  ::close(fd);
}

void ControlServer::finish(int exit_code) {
  if (m_listen_fd < 0) return;
  m_stopping = true;
  if (m_wake_pipe[1] >= 0) {
    char c = 1;
    (void)!::write(m_wake_pipe[1], &c, 1);
  }
  if (m_thread.joinable()) m_thread.join();
  ::close(m_listen_fd);
  m_listen_fd = -1;
  ::unlink(m_path.c_str());
  std::vector<std::thread> clients;
  std::vector<int> waiters;
  {
    std::lock_guard lk(m_mutex);
    clients.swap(m_clients);
    waiters.swap(m_waiters);
    // Clients still connected end their read loop (a request being handled
    // finishes first), so no thread outlives the handler's state.
    for (int fd : m_client_fds) ::shutdown(fd, SHUT_RDWR);
  }
  for (int fd : waiters) {
    write_line(fd, nlohmann::json{{"exit", exit_code}, {"version", kProtocolVersion}}.dump());
    ::close(fd);
  }
  for (auto& t : clients) {
    if (t.joinable()) t.join();
  }
  for (int i = 0; i < 2; ++i) {
    if (m_wake_pipe[i] >= 0) ::close(m_wake_pipe[i]);
    m_wake_pipe[i] = -1;
  }
}

}  // namespace dynamicfs

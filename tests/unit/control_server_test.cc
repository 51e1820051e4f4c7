// ControlServer and ControlClient over a real Unix socket, and the
// MetricsHttpServer over real loopback TCP: request/reply, errors as values,
// concurrency (a slow request does not block others), wait_exit, timeouts
// and the HTTP endpoint.
#include "src/control/control_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>

#include "src/control/control_client.h"
#include "src/control/metrics_http_server.h"

namespace dynamicfs {
namespace {

using nlohmann::json;

// A handler gate: handlers wait on it; it opens at the latest when the test
// body ends, so a failed assertion cannot leave a handler blocked.
class Gate {
 public:
  Gate() : m_opened(m_promise.get_future().share()) {}
  ~Gate() { open(); }
  void open() {
    if (!m_open.exchange(true)) m_promise.set_value();
  }
  void wait() const { m_opened.wait(); }

 private:
  std::promise<void> m_promise;
  std::shared_future<void> m_opened;
  std::atomic<bool> m_open{false};
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-control-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override {
    m_server.reset();
    std::string cmd = "rm -rf '" + m_dir + "'";
    (void)!std::system(cmd.c_str());
  }
  void start(ControlServer::Handler h) {
    m_server = std::make_unique<ControlServer>(ControlClient::socket_path(m_dir), std::move(h));
    ASSERT_TRUE(m_server->start().is_ok());
  }
  std::unique_ptr<ControlClient> client() {
    auto c = ControlClient::connect(m_dir);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return c.is_ok() ? std::move(c).value() : nullptr;
  }

  std::string m_dir;
  std::unique_ptr<ControlServer> m_server;
};

TEST_F(ControlServerTest, AnswersRequestsAndReportsErrorsAsValues) {
  start([](const json& req) -> json {
    if (req["op"] == "echo") return {{"echo", req["value"]}};
    if (req["op"] == "throw") return {{"n", req["value"].get<int>()}};  // type error
    return {{"error", "unknown op"}, {"errno", EOPNOTSUPP}};
  });
  struct stat st {};
  ASSERT_EQ(::stat(ControlClient::socket_path(m_dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto c = client();
  ASSERT_NE(c, nullptr);
  auto r = c->call({{"op", "echo"}, {"value", "hi"}}, 5000);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["echo"], "hi");
  EXPECT_EQ((*r)["version"], ControlServer::kProtocolVersion);

  auto bad = c->call({{"op", "nope"}}, 5000);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.err(), EOPNOTSUPP);

  // A handler exception becomes an EINVAL reply; the connection survives.
  auto thrown = c->call({{"op", "throw"}, {"value", "not a number"}}, 5000);
  ASSERT_FALSE(thrown.is_ok());
  EXPECT_EQ(thrown.err(), EINVAL);
  EXPECT_TRUE(c->call({{"op", "echo"}, {"value", 1}}, 5000).is_ok());

  // Malformed lines and future protocol versions are refused politely.
  ASSERT_TRUE(c->send(json("just a string")).is_ok());
  auto malformed = c->receive(5000);
  ASSERT_FALSE(malformed.is_ok());
  EXPECT_EQ(malformed.err(), EINVAL);
  ASSERT_TRUE(c->send({{"op", "echo"}, {"version", 99}}).is_ok());
  auto future = c->receive(5000);
  ASSERT_FALSE(future.is_ok());
  EXPECT_EQ(future.err(), EPROTONOSUPPORT);
}

TEST_F(ControlServerTest, SlowRequestDoesNotBlockOthers) {
  Gate release;
  std::atomic<int> fast_served{0};
  start([&](const json& req) -> json {
    if (req["op"] == "slow") {
      release.wait();  // held until a fast request has been answered
      return {{"slow", true}};
    }
    ++fast_served;
    return {{"fast", true}};
  });
  auto slow = client();
  ASSERT_NE(slow, nullptr);
  ASSERT_TRUE(slow->send({{"op", "slow"}}).is_ok());
  auto fast = client();
  ASSERT_NE(fast, nullptr);
  // If the server handled requests one at a time this would time out.
  auto r = fast->call({{"op", "fast"}}, 10000);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(fast_served.load(), 1);
  release.open();
  auto s = slow->receive(10000);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)["slow"], true);
  m_server->finish(0);  // no handler may outlive the promise it waits on
}

TEST_F(ControlServerTest, WaitExitIsAnsweredAtFinishWithTheExitCode) {
  start([](const json&) -> json { return {{"ok", true}}; });
  auto waiter = client();
  ASSERT_NE(waiter, nullptr);
  ASSERT_TRUE(waiter->send({{"op", "wait_exit"}}).is_ok());
  // Make sure the server has the wait_exit before finishing: a request on
  // another connection is answered after it was read.
  auto other = client();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->call({{"op", "x"}}, 5000).is_ok());
  std::thread finisher([&] { m_server->finish(3); });
  auto r = waiter->receive(10000);
  finisher.join();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["exit"], 3);
  // After finish the socket is gone.
  auto gone = ControlClient::connect(m_dir);
  ASSERT_FALSE(gone.is_ok());
  EXPECT_NE(gone.status().message().find("not running"), std::string::npos);
}

TEST_F(ControlServerTest, WaitExitWithAckConfirmsTheWaitBeforeTheExit) {
  start([](const json&) -> json { return {{"ok", true}}; });
  auto waiter = client();
  ASSERT_NE(waiter, nullptr);
  ASSERT_TRUE(waiter->send({{"op", "wait_exit"}, {"ack", true}}).is_ok());
  auto ack = waiter->receive(10000);
  ASSERT_TRUE(ack.is_ok()) << ack.status().to_string();
  EXPECT_EQ((*ack)["waiting"], true);
  // Finishing right after the ack cannot lose the exit status.
  m_server->finish(5);
  auto r = waiter->receive(10000);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["exit"], 5);
}

TEST_F(ControlServerTest, ClientTimesOutOnASilentServer) {
  Gate release;
  start([&](const json&) -> json {
    release.wait();
    return {{"late", true}};
  });
  auto c = client();
  ASSERT_NE(c, nullptr);
  auto r = c->call({{"op", "hang"}}, 200);
  release.open();
  m_server->finish(0);  // no handler may outlive the promise it waits on
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), ETIMEDOUT);
  EXPECT_NE(r.status().message().find("did not answer"), std::string::npos);
}

TEST(ControlClient, FindMountRefusesNonMounts) {
  auto r = ControlClient::find_mount("/");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.err(), ENOENT);
  EXPECT_NE(r.status().message().find("not a mounted dynamicfs filesystem"), std::string::npos);
}

TEST(MetricsHttpServer, ParsesListenSpecs) {
  auto a = MetricsHttpServer::parse_listen("9567");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->address().to_string(), "127.0.0.1");
  EXPECT_EQ(a->port(), 9567);
  auto b = MetricsHttpServer::parse_listen("0.0.0.0:80");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->address().to_string(), "0.0.0.0");
  auto c = MetricsHttpServer::parse_listen("[::1]:9000");
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(c->address().is_v6());
  EXPECT_FALSE(MetricsHttpServer::parse_listen("localhost:9000").is_ok());
  EXPECT_FALSE(MetricsHttpServer::parse_listen("127.0.0.1:70000").is_ok());
  EXPECT_FALSE(MetricsHttpServer::parse_listen("127.0.0.1:").is_ok());
}

// One HTTP/1.0 request over a plain socket; returns the whole response.
std::string http_get(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};  // a broken server fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsHttpServer, ServesMetricsOnLoopback) {
  std::atomic<int> renders{0};
  MetricsHttpServer http([&] {
    ++renders;
    return std::string("# HELP dynamicfs_x X.\n# TYPE dynamicfs_x gauge\ndynamicfs_x 1\n");
  });
  ASSERT_TRUE(http.start("127.0.0.1:0").is_ok());
  std::string ep = http.endpoint();
  ASSERT_EQ(ep.rfind("127.0.0.1:", 0), 0u) << ep;
  auto port = static_cast<uint16_t>(std::stoi(ep.substr(ep.find(':') + 1)));
  std::string ok = http_get(port, "/metrics");
  EXPECT_EQ(ok.rfind("HTTP/1.0 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(ok.find("\r\n\r\n# HELP dynamicfs_x X.\n"), std::string::npos);
  EXPECT_EQ(renders.load(), 1);
  std::string missing = http_get(port, "/other");
  EXPECT_EQ(missing.rfind("HTTP/1.0 404", 0), 0u) << missing;
  EXPECT_EQ(renders.load(), 1);
  http.stop();
  EXPECT_EQ(http_get(port, "/metrics"), "");
}

}  // namespace
}  // namespace dynamicfs

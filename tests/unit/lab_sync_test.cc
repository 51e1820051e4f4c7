// Lab sync's building blocks without a mount: the shared secret (file
// checks, request and answer signatures), the feed document's checks, the
// follower's A/B slots (begin/finish/resume/rollback, refill from the
// current slot) and HttpServer + HttpClient over loopback.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "src/control/http_client.h"
#include "src/control/http_server.h"
#include "src/extent/volume_config.h"
#include "src/replication/feed_secret.h"
#include "src/replication/follow_slots.h"
#include "src/replication/lab_feed.h"

namespace dynamicfs {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dfs-labsync-XXXXXX";
    m_path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

void write(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

TEST(FeedSecret, RefusesFilesOthersCanRead) {
  TempDir t;
  const std::string f = t.path() + "/s";
  write(f, "0123456789abcdef0123456789abcdef\n", 0644);
  auto r = FeedSecret::load(f);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().err(), EPERM);
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos) << r.status().message();
  ::chmod(f.c_str(), 0640);
  EXPECT_FALSE(FeedSecret::load(f).is_ok());
  ::chmod(f.c_str(), 0600);
  EXPECT_TRUE(FeedSecret::load(f).is_ok());
  write(f, "short\n", 0600);
  EXPECT_EQ(FeedSecret::load(f).status().err(), EINVAL);
  EXPECT_EQ(FeedSecret::load(t.path() + "/missing").status().err(), ENOENT);
}

TEST(FeedSecret, GenerateMakesAPrivateUsableKeyOnce) {
  TempDir t;
  const std::string f = t.path() + "/s";
  ASSERT_TRUE(FeedSecret::generate(f).is_ok());
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(FeedSecret::load(f).is_ok());
  EXPECT_EQ(FeedSecret::generate(f).err(), EEXIST);
}

TEST(FeedSecret, SignaturesBindKeyNonceAndBody) {
  TempDir t;
  write(t.path() + "/a", "key-a-key-a-key-a-key-a", 0600);
  write(t.path() + "/b", "key-b-key-b-key-b-key-b", 0600);
  auto a = FeedSecret::load(t.path() + "/a").value();
  auto b = FeedSecret::load(t.path() + "/b").value();
  std::string nonce;
  const std::string auth = a.authorization("GET", "/feed", &nonce);
  std::string seen;
  EXPECT_TRUE(a.check_authorization("GET", "/feed", auth, &seen));
  EXPECT_EQ(seen, nonce);
  EXPECT_FALSE(b.check_authorization("GET", "/feed", auth, &seen));        // another key
  EXPECT_FALSE(a.check_authorization("GET", "/torrents/1", auth, &seen));  // another path
  EXPECT_FALSE(a.check_authorization("GET", "/feed", "", &seen));
  EXPECT_FALSE(a.check_authorization("GET", "/feed", "DFS-HMAC garbage", &seen));
  const std::string sig = a.mac(FeedSecret::reply_message(nonce, "body"));
  EXPECT_TRUE(a.verify(FeedSecret::reply_message(nonce, "body"), sig));
  EXPECT_FALSE(a.verify(FeedSecret::reply_message(nonce, "bodx"), sig));
  EXPECT_FALSE(a.verify(FeedSecret::reply_message(FeedSecret::new_nonce(), "body"), sig));
  EXPECT_FALSE(b.verify(FeedSecret::reply_message(nonce, "body"), sig));
  EXPECT_NE(FeedSecret::new_nonce(), FeedSecret::new_nonce());
  EXPECT_EQ(FeedSecret::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

LabFeed sample_feed() {
  LabFeed f;
  f.volume_uuid = "0e66f2fb-507c-4da0-989f-9d06b2602d27";
  for (uint64_t g : {3, 4}) {
    LabFeedEntry e;
    e.generation = g;
    e.snapshot = "publish-" + std::to_string(g);
    e.torrent_sha256 = FeedSecret::sha256_hex(std::to_string(g));
    e.torrent_size = 1000 + g;
    e.peer_port = 40000 + static_cast<int>(g);
    f.published.push_back(e);
  }
  return f;
}

TEST(LabFeed, RoundTripsAndNamesTheLatest) {
  auto back = LabFeed::from_json(sample_feed().to_json());
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  ASSERT_NE(back->latest(), nullptr);
  EXPECT_EQ(back->latest()->generation, 4u);
  EXPECT_EQ(back->latest()->peer_port, 40004);
  EXPECT_EQ(back->find(3)->snapshot, "publish-3");
  EXPECT_EQ(back->find(5), nullptr);
  EXPECT_EQ(LabFeed::torrent_path(4), "/torrents/4");
}

TEST(LabFeed, RefusesMalformedFeeds) {
  auto mutate = [](auto change) {
    LabFeed f = sample_feed();
    change(f);
    return LabFeed::from_json(f.to_json()).status().err();
  };
  EXPECT_EQ(mutate([](LabFeed& f) { f.published[1].generation = 3; }), EBADMSG);
  EXPECT_EQ(mutate([](LabFeed& f) { f.published[0].snapshot = "../etc"; }), EBADMSG);
  EXPECT_EQ(mutate([](LabFeed& f) { f.published[0].torrent_sha256 = "xyz"; }), EBADMSG);
  EXPECT_EQ(mutate([](LabFeed& f) { f.published[0].peer_port = 0; }), EBADMSG);
  EXPECT_EQ(mutate([](LabFeed& f) { f.published[0].torrent_size = 0; }), EBADMSG);
  EXPECT_EQ(LabFeed::from_json("not json").status().err(), EBADMSG);
  EXPECT_EQ(LabFeed::from_json("{\"format\": \"other\"}").status().err(), EBADMSG);
}

// A fake fetched volume in SLOT: one sparse disk file with DATA at 1 MiB.
void fake_volume(const std::string& dir, const std::string& data) {
  fs::create_directories(dir + "/.incoming");
  const std::string disk = dir + "/disk0.img";
  {
    std::ofstream out(disk, std::ios::binary);
    out.seekp(1 << 20);
    out << data;
    out.seekp((8 << 20) - 1);
    out << '\0';
  }
  write(dir + "/.incoming/meta.pack", "pack-" + data, 0644);
  VolumeConfig cfg;
  cfg.volume_uuid[0] = 7;
  DiskConfig d;
  d.index = 0;
  d.path = disk;
  cfg.disks.push_back(d);
  ASSERT_TRUE(cfg.save(dir).is_ok());
}

std::string read_at(const std::string& path, off_t off, size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(off);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  return s;
}

TEST(FollowSlots, FetchSwitchRollbackAndResume) {
  TempDir t;
  const std::string dir = t.path() + "/f";
  EXPECT_EQ(FollowSlots::open(dir, false).status().err(), ENOENT);
  auto opened = FollowSlots::open(dir, true);
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  FollowSlots& s = opened.value();
  std::string follow_dir;
  EXPECT_TRUE(FollowSlots::is_slot(s.slot_dir("b"), &follow_dir));
  EXPECT_EQ(follow_dir, s.dir());
  EXPECT_FALSE(FollowSlots::is_slot(t.path(), nullptr));
  EXPECT_EQ(s.rollback().err(), EAGAIN);  // nothing fetched yet

  bool resumed = true;
  FollowSlot before;
  auto first = s.begin_fetch(1, "publish-1", "uuid", true, &resumed, &before);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first.value(), "a");
  EXPECT_FALSE(resumed);
  fake_volume(s.slot_dir("a"), "generation-1");
  ASSERT_TRUE(s.finish_fetch("a").is_ok());
  EXPECT_EQ(s.state().current, "a");
  EXPECT_EQ(fs::read_symlink(dir + "/current"), "slots/a");

  // The next generation goes to b, refilled from a first.
  auto second = s.begin_fetch(2, "publish-2", "uuid", true, &resumed, &before);
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(second.value(), "b");
  EXPECT_EQ(read_at(s.slot_dir("b") + "/disk0.img", 1 << 20, 12), "generation-1");
  EXPECT_EQ(fs::file_size(s.slot_dir("b") + "/disk0.img"), 8u << 20);
  auto cfg_b = VolumeConfig::load(s.slot_dir("b"));
  ASSERT_TRUE(cfg_b.is_ok());
  EXPECT_EQ(cfg_b->disks[0].path, s.slot_dir("b") + "/disk0.img");
  EXPECT_EQ(read_at(s.slot_dir("b") + "/.incoming/meta.pack", 0, 17), "pack-generation-1");
  // Mid-fetch: a is current and the only rollback target is incomplete.
  EXPECT_EQ(s.rollback().err(), EAGAIN);
  EXPECT_EQ(s.state().current, "a");
  // Restarted mid-fetch: resumed, nothing refilled over the partial data.
  write(s.slot_dir("b") + "/partial", "x", 0644);
  auto reopened = FollowSlots::open(dir, false);
  ASSERT_TRUE(reopened.is_ok());
  auto again = reopened->begin_fetch(2, "publish-2", "uuid", true, &resumed, &before);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(resumed);
  EXPECT_TRUE(fs::exists(s.slot_dir("b") + "/partial"));
  ASSERT_TRUE(reopened->finish_fetch("b").is_ok());
  EXPECT_EQ(reopened->state().current, "b");
  EXPECT_EQ(reopened->state().b.generation, 2u);
  EXPECT_TRUE(reopened->state().b.pristine);
  ASSERT_TRUE(reopened->mark_written("b").is_ok());
  EXPECT_FALSE(reopened->state().b.pristine);

  // Rollback to a, which stays complete; generation 2 is then skipped.
  ASSERT_TRUE(reopened->rollback().is_ok());
  EXPECT_EQ(reopened->state().current, "a");
  EXPECT_EQ(reopened->state().skip_through, 2u);
  EXPECT_EQ(fs::read_symlink(dir + "/current"), "slots/a");
  auto on_disk = FollowSlots::open(dir, false);
  ASSERT_TRUE(on_disk.is_ok());
  EXPECT_EQ(on_disk->state().current, "a");
  EXPECT_EQ(on_disk->state().volume_uuid, "uuid");
}

TEST(FollowSlots, RefusesADirectoryHoldingSomethingElse) {
  TempDir t;
  write(t.path() + "/unrelated", "data", 0644);
  EXPECT_EQ(FollowSlots::open(t.path(), true).status().err(), ENOTEMPTY);
}

TEST(FollowSlots, OneFollowerPerDirectory) {
  TempDir t;
  auto s = FollowSlots::open(t.path() + "/f", true);
  ASSERT_TRUE(s.is_ok());
  auto first = FollowSlots::lock(s->dir());
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(FollowSlots::locker_pid(s->dir()), ::getpid());
  auto second = FollowSlots::lock(s->dir());
  EXPECT_EQ(second.status().err(), EBUSY);
  ::close(first.value());
  EXPECT_EQ(FollowSlots::locker_pid(s->dir()), 0);
}

TEST(HttpServer, ServesHandlerRepliesToHttpClient) {
  HttpServer server([](const HttpRequest& r) {
    if (r.path != "/hello") return HttpReply::text(404, "no\n");
    HttpReply rep = HttpReply::text(200, "hi " + r.authorization);
    rep.headers.emplace_back("X-Test", "yes");
    return rep;
  });
  ASSERT_TRUE(server.start("127.0.0.1:0", "test").is_ok());
  auto url = HttpUrl::parse("http://127.0.0.1:" + std::to_string(server.port()) + "/hello");
  ASSERT_TRUE(url.is_ok());
  auto r = HttpClient::get(url.value(), "", {{"Authorization", "token"}}, std::chrono::seconds(5),
                           1 << 20);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi token");
  EXPECT_EQ(r->headers["x-test"], "yes");
  auto missing = HttpClient::get(url.value(), "/other", {}, std::chrono::seconds(5), 1 << 20);
  ASSERT_TRUE(missing.is_ok());
  EXPECT_EQ(missing->status, 404);
  auto too_big = HttpClient::get(url.value(), "", {}, std::chrono::seconds(5), 2);
  EXPECT_EQ(too_big.status().err(), EFBIG);
  server.stop();
  EXPECT_FALSE(HttpClient::get(url.value(), "", {}, std::chrono::seconds(5), 1 << 20).is_ok());
}

TEST(HttpUrl, ParsesNumericHostsOnly) {
  auto a = HttpUrl::parse("http://10.0.0.1:8086/feed");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->host, "10.0.0.1");
  EXPECT_EQ(a->port, 8086);
  EXPECT_EQ(a->path, "/feed");
  auto b = HttpUrl::parse("http://[::1]:80");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(b->host_port(), "[::1]:80");
  EXPECT_EQ(b->path, "/");
  EXPECT_EQ(HttpUrl::parse("http://10.0.0.1").value().port, 80);
  EXPECT_FALSE(HttpUrl::parse("https://10.0.0.1:1/").is_ok());
  EXPECT_FALSE(HttpUrl::parse("http://master.lab:8086/").is_ok());
  EXPECT_FALSE(HttpUrl::parse("http://10.0.0.1:0/").is_ok());
}

}  // namespace
}  // namespace dynamicfs

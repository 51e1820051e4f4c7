// Lab sync's building blocks without a mount: the shared secret (file
// checks, request and answer signatures), the feed document's checks, the
// follower's A/B slots (begin/finish/resume/rollback, refill from the
// current slot) and HttpServer + HttpClient over loopback.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <libtorrent/torrent_info.hpp>
#include <random>
#include <thread>

#include "src/control/http_client.h"
#include "src/control/http_server.h"
#include "src/extent/volume_config.h"
#include "src/replication/feed_secret.h"
#include "src/replication/follow_slots.h"
#include "src/replication/image_torrent.h"
#include "src/replication/lab_feed.h"
#include "src/replication/piece_reuse.h"

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
  auto first = s.begin_fetch(1, "publish-1", "uuid", "", FollowSlots::Fill::kRefill, &resumed);
  ASSERT_TRUE(first.is_ok());
  EXPECT_EQ(first.value(), "a");
  EXPECT_FALSE(resumed);
  fake_volume(s.slot_dir("a"), "generation-1");
  ASSERT_TRUE(s.finish_fetch("a").is_ok());
  EXPECT_EQ(s.state().current, "a");
  EXPECT_EQ(fs::read_symlink(dir + "/current"), "slots/a");

  // Planned for another current slot (a rollback came in between): refused.
  EXPECT_EQ(s.begin_fetch(2, "publish-2", "uuid", "b", FollowSlots::Fill::kRefill, &resumed)
                .status()
                .err(),
            EAGAIN);
  // The next generation goes to b, refilled from a first.
  auto second = s.begin_fetch(2, "publish-2", "uuid", "a", FollowSlots::Fill::kRefill, &resumed);
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
  auto again =
      reopened->begin_fetch(2, "publish-2", "uuid", "a", FollowSlots::Fill::kKeep, &resumed);
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

// A fetch stopped before its slot had a volume.toml (the first fetch, or
// the first update into an empty spare) is started again, not resumed:
// `fetch --volume` would refuse the half-made directory for ever.
TEST(FollowSlots, APartialSlotWithoutConfigIsStartedAgain) {
  TempDir t;
  auto s = FollowSlots::open(t.path() + "/f", true);
  ASSERT_TRUE(s.is_ok());
  bool resumed = true;
  auto slot = s->begin_fetch(1, "publish-1", "uuid", "", FollowSlots::Fill::kKeep, &resumed);
  ASSERT_TRUE(slot.is_ok());
  EXPECT_FALSE(resumed);
  write(s->slot_dir("a") + "/disk0.img", "partial", 0600);  // killed here
  auto again = FollowSlots::open(t.path() + "/f", false);
  ASSERT_TRUE(again.is_ok());
  slot = again->begin_fetch(1, "publish-1", "uuid", "", FollowSlots::Fill::kKeep, &resumed);
  ASSERT_TRUE(slot.is_ok());
  EXPECT_FALSE(resumed);
  EXPECT_TRUE(fs::is_empty(again->slot_dir("a")));
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

// A 2 MiB disk file of random bytes (SEED), and the torrent of RANGES of it
// in 256 KiB pieces.
std::string random_disk(const std::string& path, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(2 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
  return data;
}

std::shared_ptr<const lt::torrent_info> torrent_of(const std::string& disk,
                                                   std::vector<ByteRange> ranges,
                                                   const std::string& out) {
  ImageTorrentOptions o;
  o.disk = disk;
  o.ranges = std::move(ranges);
  o.piece_size = 1 << 18;
  auto made = ImageTorrent::create(o, out);
  EXPECT_TRUE(made.is_ok()) << made.status().message();
  lt::error_code ec;
  auto ti = std::make_shared<lt::torrent_info>(out, ec);
  EXPECT_FALSE(ec) << ec.message();
  return ti;
}

void overwrite(const std::string& path, uint64_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f << bytes;
}

// The spare slot holds generation 1, the current one generation 2; the new
// image (3) changed one piece, and dropped a range from another (its
// pieces' ranges differ, its bytes do not).
TEST(PieceReuse, TakesWhatTheSlotsHoldAndFetchesTheRest) {
  TempDir t;
  const std::string spare = t.path() + "/spare.img", current = t.path() + "/current.img";
  const std::string next = t.path() + "/next.img";
  random_disk(spare, 1);
  random_disk(current, 1);
  overwrite(current, 3 << 18, std::string(1000, 'x'));  // piece 3 changed in generation 2
  fs::copy_file(current, next);
  overwrite(next, 5 << 18, std::string(1000, 'y'));  // piece 5 changes in generation 3
  const std::vector<ByteRange> all = {{0, 2 << 20}};
  // Generation 3 no longer uses [6.5, 7) pieces' worth: piece 6 is cut short.
  const std::vector<ByteRange> cut = {{0, (6 << 18) + (1 << 17)}, {7 << 18, 1 << 18}};
  auto t1 = torrent_of(spare, all, t.path() + "/1.torrent");
  auto t2 = torrent_of(current, all, t.path() + "/2.torrent");
  auto t3 = torrent_of(next, cut, t.path() + "/3.torrent");
  ASSERT_TRUE(t1 && t2 && t3);

  auto plan = PieceReuse::plan(*t3, t1.get(), t2.get());
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  // Exact twins: pieces 0-2 and 4 and 7 in the spare, piece 3 only in the
  // current slot; 5 (changed) and 6 (other ranges) have none.
  int have = 0;
  for (bool b : plan->have) have += b;
  EXPECT_EQ(plan->pieces_in_spare, 5);
  EXPECT_EQ(plan->pieces_copied, 1);
  EXPECT_EQ(have, 6);
  EXPECT_EQ(plan->copy_bytes, 1u << 18);
  ASSERT_EQ(plan->copies.size(), 1u);
  EXPECT_EQ(plan->copies[0].offset, 3u << 18);

  // The cut piece's bytes are found in place by hashing; the changed piece
  // is not found anywhere and is left to fetch.
  ASSERT_TRUE(PieceReuse::verify_rest(*t3, {{0, spare}}, {{0, current}}, &plan.value()).is_ok());
  EXPECT_EQ(plan->pieces_hashed, 2);
  EXPECT_EQ(plan->pieces_missing, 1);
  have = 0;
  for (bool b : plan->have) have += b;
  EXPECT_EQ(have, t3->num_pieces() - 1);
  ASSERT_TRUE(PieceReuse::copy(plan.value(), {{0, current}}, {{0, spare}}).is_ok());
  // After the copy the spare holds generation 3 except the changed piece.
  std::ifstream a(spare, std::ios::binary), b(next, std::ios::binary);
  std::string sa((std::istreambuf_iterator<char>(a)), {}),
      sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(sa.substr(0, 5 << 18), sb.substr(0, 5 << 18));
  EXPECT_NE(sa.substr(5 << 18, 1 << 18), sb.substr(5 << 18, 1 << 18));
  EXPECT_EQ(sa.substr(6 << 18), sb.substr(6 << 18));
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

// A long poll: the reply is held until `ready`, and what the handler says
// then is what arrives; at the deadline the reply goes out as it is.
TEST(HttpServer, HoldsALongPollUntilReady) {
  std::atomic<int> generation{1};
  HttpServer server([&](const HttpRequest& r) {
    HttpReply rep = HttpReply::text(200, "generation " + std::to_string(generation.load()));
    const bool wait_long = r.path == "/wait";
    rep.ready = [&] { return generation.load() > 1; };
    rep.max_wait = wait_long ? std::chrono::milliseconds(60000) : std::chrono::milliseconds(100);
    return rep;
  });
  ASSERT_TRUE(server.start("127.0.0.1:0", "test").is_ok());
  auto url = HttpUrl::parse("http://127.0.0.1:" + std::to_string(server.port()) + "/").value();
  // Deadline: answered with what there is.
  auto early = HttpClient::get(url, "/short", {}, std::chrono::seconds(30), 1 << 10);
  ASSERT_TRUE(early.is_ok()) << early.status().message();
  EXPECT_EQ(early->body, "generation 1");
  // Held until the generation moves (the client sees it move only through
  // the reply).
  std::atomic<bool> asked{false};
  std::thread bump([&] {
    while (!asked) std::this_thread::yield();
    generation = 2;
  });
  auto held = HttpClient::get(url, "/wait", {}, std::chrono::seconds(30), 1 << 10, [&] {
    asked = true;
    return true;
  });
  bump.join();
  ASSERT_TRUE(held.is_ok()) << held.status().message();
  EXPECT_EQ(held->body, "generation 2");
  // A waiting client can give up.
  generation = 1;
  auto abandoned =
      HttpClient::get(url, "/wait", {}, std::chrono::seconds(30), 1 << 10, [] { return false; });
  EXPECT_EQ(abandoned.status().err(), ECANCELED);
  server.stop();
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

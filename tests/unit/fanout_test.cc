// The pieces of a flat 1 -> N fan-out, without a network: InitialSeeding's
// bookkeeping (each piece leaves the seed once before any leaves it twice,
// refusals only while another receiver is getting the piece, nothing lost
// when a receiver leaves), SwarmTally's accounting of where bytes came from
// and of waits with no peer, RequestNudge's timing, and the one-hash
// (`--hashes v1`) image torrent. The behaviour on a
// real swarm is tested by tests/integration/fanout_netns.sh.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <libtorrent/torrent_info.hpp>
#include <set>
#include <string>
#include <vector>

#include "src/replication/image_layout.h"
#include "src/replication/image_torrent.h"
#include "src/replication/initial_seeding.h"
#include "src/replication/request_nudge.h"
#include "src/replication/swarm_tally.h"

using namespace dynamicfs;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr int kPieces = 64;
constexpr int kPieceLen = 1 << 20;
constexpr int kBlock = 16 << 10;

InitialSeeding make_seeding() {
  return InitialSeeding(kPieces, kPieceLen, kPieceLen / 2, /*seed=*/1234);
}

auto lacks_all = [](int) { return false; };

// Asks for every block of `piece` as `peer`; false if any was refused.
bool request_piece(InitialSeeding& s, const void* peer, int piece, Clock::time_point now) {
  const int size = piece == kPieces - 1 ? kPieceLen / 2 : kPieceLen;
  for (int start = 0; start < size; start += kBlock) {
    if (!s.on_request(peer, piece, start, kBlock, now)) return false;
  }
  return true;
}

}  // namespace

TEST(InitialSeeding, HandsOutEveryPieceOnceBeforeAnyTwice) {
  auto s = make_seeding();
  int a = 0, b = 0, c = 0;
  const void* peers[] = {&a, &b, &c};
  const auto now = Clock::now();
  std::set<int> seen;
  int handed = 0;
  for (int round = 0; handed < kPieces; ++round) {
    const int piece = s.next_piece_for(peers[round % 3], lacks_all, now);
    ASSERT_GE(piece, 0) << "ran out after " << handed << " pieces";
    EXPECT_TRUE(seen.insert(piece).second) << "piece " << piece << " handed out twice";
    ++handed;
  }
  EXPECT_EQ(s.next_piece_for(&a, lacks_all, now), -1);
  EXPECT_EQ(static_cast<int>(seen.size()), kPieces);
}

TEST(InitialSeeding, LeavesPiecesAPeerHasForTheOthers) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto now = Clock::now();
  auto a_has_even = [](int p) { return p % 2 == 0; };
  std::set<int> to_a;
  for (int p; (p = s.next_piece_for(&a, a_has_even, now)) >= 0;) {
    EXPECT_NE(p % 2, 0) << "suggested piece " << p << " that the peer has";
    to_a.insert(p);
  }
  EXPECT_EQ(static_cast<int>(to_a.size()), kPieces / 2);
  std::set<int> to_b;
  for (int p; (p = s.next_piece_for(&b, lacks_all, now)) >= 0;) to_b.insert(p);
  EXPECT_EQ(static_cast<int>(to_b.size()), kPieces / 2);
  for (int p : to_b) EXPECT_EQ(p % 2, 0);
}

TEST(InitialSeeding, RefusesAPieceOnItsWayToAnotherReceiver) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto t0 = Clock::now();
  const int piece = s.next_piece_for(&a, lacks_all, t0);
  ASSERT_GE(piece, 0);
  // Suggested to a: b is refused, a is served.
  EXPECT_FALSE(s.on_request(&b, piece, 0, kBlock, t0));
  EXPECT_TRUE(s.on_request(&a, piece, 0, kBlock, t0));
  EXPECT_EQ(s.counts().given_out, 1);
  EXPECT_EQ(s.counts().rejected, 1);
  // Still refused while a fetches it, and for kSpread after a asked for its
  // last block (the receivers pass it on meanwhile).
  EXPECT_FALSE(s.on_request(&b, piece, kBlock, kBlock, t0 + milliseconds(100)));
  const auto sent = t0 + milliseconds(200);
  ASSERT_TRUE(request_piece(s, &a, piece, sent));
  EXPECT_FALSE(s.may_resend(piece, sent + InitialSeeding::kSpread - milliseconds(1)));
  EXPECT_FALSE(s.on_request(&b, piece, 0, kBlock, sent + milliseconds(500)));
  // Then b may have it from the seed too (no other receiver still waits for
  // a first copy of anything here).
  EXPECT_TRUE(s.on_request(&b, piece, 0, kBlock, sent + InitialSeeding::kSpread));
  EXPECT_EQ(s.counts().given_out, 1) << "a second copy is not a first hand-out";
}

TEST(InitialSeeding, AnUnsuggestedFreePieceGoesToWhoeverAsksFirst) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto now = Clock::now();
  EXPECT_TRUE(s.on_request(&a, 7, 0, kBlock, now));
  EXPECT_FALSE(s.on_request(&b, 7, 0, kBlock, now));
  EXPECT_EQ(s.owner_of(7), &a);
  // And it is not suggested to anyone any more.
  for (int p; (p = s.next_piece_for(&b, lacks_all, now)) >= 0;) EXPECT_NE(p, 7);
}

TEST(InitialSeeding, AStaleSuggestionIsServedToOthers) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto t0 = Clock::now();
  const int piece = s.next_piece_for(&a, lacks_all, t0);
  ASSERT_GE(piece, 0);
  // a never asks: after kInFlight b gets it, and it is b's from then on.
  EXPECT_TRUE(s.on_request(&b, piece, 0, kBlock, t0 + InitialSeeding::kInFlight));
  EXPECT_EQ(s.owner_of(piece), &b);
  EXPECT_EQ(s.counts().given_out, 1);
}

TEST(InitialSeeding, GivenBackSuggestionsGoToTheNextPeer) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto now = Clock::now();
  const int piece = s.next_piece_for(&a, lacks_all, now);
  s.give_back(&b, piece);  // not b's to give back: no effect
  EXPECT_EQ(s.owner_of(piece), &a);
  s.give_back(&a, piece);
  EXPECT_EQ(s.next_piece_for(&b, lacks_all, now), piece);
}

TEST(InitialSeeding, AReceiverThatLeavesLosesNothing) {
  auto s = make_seeding();
  int a = 0, b = 0;
  const auto now = Clock::now();
  const int suggested = s.next_piece_for(&a, lacks_all, now);
  const int owned = s.next_piece_for(&a, lacks_all, now);
  const int sent = s.next_piece_for(&a, lacks_all, now);
  ASSERT_TRUE(s.on_request(&a, owned, 0, kBlock, now));
  ASSERT_TRUE(request_piece(s, &a, sent, now));
  s.release(&a);
  // What a was given but did not get is free again; what it got may be sent
  // again at once (a is gone, so nobody else can pass it on).
  EXPECT_TRUE(s.on_request(&b, suggested, 0, kBlock, now));
  EXPECT_TRUE(s.on_request(&b, owned, 0, kBlock, now));
  EXPECT_TRUE(s.on_request(&b, sent, 0, kBlock, now));
  EXPECT_EQ(s.counts().rejected, 0);
}

TEST(InitialSeeding, OutOfRangeRequestsAreLeftToLibtorrent) {
  auto s = make_seeding();
  int a = 0;
  EXPECT_TRUE(s.on_request(&a, -1, 0, kBlock, Clock::now()));
  EXPECT_TRUE(s.on_request(&a, kPieces, 0, kBlock, Clock::now()));
  EXPECT_EQ(s.counts().given_out, 0);
}

namespace {

lt::peer_info peer(const std::string& id_prefix, char tag, int64_t downloaded, bool complete,
                   bool interested = false) {
  lt::peer_info p;
  std::string id = id_prefix;
  id.resize(20, tag);
  std::memcpy(p.pid.data(), id.data(), 20);
  p.total_download = downloaded;
  if (complete) p.flags |= lt::peer_info::seed;
  if (interested) p.flags |= lt::peer_info::remote_interested;
  return p;
}

}  // namespace

TEST(SwarmTally, SplitsBytesBetweenTheSourceAndOtherReceivers) {
  SwarmTally t;
  const auto now = Clock::now();
  t.update({peer(kSeedFingerprint, 'a', 100, true), peer(kFetchFingerprint, 'b', 30, false, true),
            peer("-qB4500-", 'c', 7, true)},
           true, now);
  EXPECT_EQ(t.counts().from_source, 107u) << "the seed and a foreign client that had everything";
  EXPECT_EQ(t.counts().from_peers, 30u);
  EXPECT_EQ(t.counts().peers, 3);
  EXPECT_EQ(t.counts().complete_peers, 2);
  EXPECT_EQ(t.counts().wanting_peers, 1);
  // The receiver completes and the seed disconnects: the receiver is still
  // a receiver, and the seed's bytes are kept.
  t.update({peer(kFetchFingerprint, 'b', 80, true)}, true, now + milliseconds(50));
  EXPECT_EQ(t.counts().from_source, 107u);
  EXPECT_EQ(t.counts().from_peers, 80u);
  EXPECT_EQ(t.counts().peers, 1);
  EXPECT_EQ(t.counts().peers_seen, 3);
}

TEST(SwarmTally, MeasuresTheLongestWaitWithNoPeer) {
  SwarmTally t;
  const auto t0 = Clock::now();
  t.update({}, true, t0);
  t.update({}, true, t0 + milliseconds(1500));
  EXPECT_NEAR(t.counts().max_no_peer_seconds, 1.5, 1e-9);
  t.update({peer(kSeedFingerprint, 'a', 0, true)}, true, t0 + milliseconds(1600));
  t.update({}, true, t0 + milliseconds(2000));
  t.update({}, true, t0 + milliseconds(2500));
  EXPECT_NEAR(t.counts().max_no_peer_seconds, 1.5, 1e-9) << "a shorter second wait";
  // A finished fetch with no peer is not waiting.
  t.update({}, false, t0 + milliseconds(9000));
  EXPECT_NEAR(t.counts().max_no_peer_seconds, 1.5, 1e-9);
}

TEST(SwarmTally, PeersBeforeTheHandshakeDoNotCount) {
  SwarmTally t;
  lt::peer_info half_open;  // no peer id yet
  t.update({half_open}, true, Clock::now());
  EXPECT_EQ(t.counts().peers, 0);
  EXPECT_EQ(t.counts().peers_seen, 0);
}

TEST(RequestNudge, OnlyAfterAQuietSpell) {
  const auto t0 = Clock::now();
  const auto q = RequestNudge::kQuiet;
  EXPECT_FALSE(RequestNudge::due(t0, t0 - q / 2, t0 - 2 * q)) << "asked just now";
  EXPECT_FALSE(RequestNudge::due(t0, t0 - 2 * q, t0 - q / 2)) << "nudged just now";
  EXPECT_TRUE(RequestNudge::due(t0, t0 - q, t0 - q));
}

namespace {

// A 2 MiB disk file of pseudo-random bytes under a fresh temp directory.
std::string make_disk(const std::string& dir) {
  const std::string path = dir + "/disk.img";
  std::ofstream out(path, std::ios::binary);
  uint32_t x = 2463534242u;
  for (int i = 0; i < (2 << 20) / 4; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    out.write(reinterpret_cast<const char*>(&x), 4);
  }
  return path;
}

}  // namespace

// `image create --hashes v1`: a receiver of this torrent hashes each piece
// once (SHA-1); the default hybrid carries SHA-256 trees too, and libtorrent
// checks both.
TEST(ImageTorrent, V1OnlyCarriesOneKindOfHash) {
  char tmpl[] = "/tmp/dfs-fanout-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string disk = make_disk(dir);
  for (bool v1_only : {false, true}) {
    ImageTorrentOptions o;
    o.disk = disk;
    o.ranges = {{0, 1 << 20}, {(3 << 20) / 2, 1 << 19}};
    o.piece_size = 1 << 18;
    o.v1_only = v1_only;
    const std::string out = dir + (v1_only ? "/v1.torrent" : "/hybrid.torrent");
    auto info = ImageTorrent::create(o, out);
    ASSERT_TRUE(info.is_ok()) << info.status().message();
    lt::error_code ec;
    lt::torrent_info ti(out, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(ti.info_hashes().has_v1());
    EXPECT_EQ(ti.info_hashes().has_v2(), !v1_only);
    // Either way the ranges map onto the disk the same way.
    auto layout = ImageLayout::from_files(ti.files());
    ASSERT_TRUE(layout.is_ok()) << layout.status().message();
    EXPECT_EQ(layout->end_offset(), static_cast<uint64_t>(2 << 20));
  }
  std::filesystem::remove_all(dir);
}

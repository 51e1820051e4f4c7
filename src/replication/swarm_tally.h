// SwarmTally: what a seed or fetch knows about its swarm, for the operator
// and for tests: where the received bytes came from (the image's source or
// other receivers: if nearly everything comes from the source, the swarm is
// not fanning out), how long the fetch went with no peer at all (a starved
// receiver), and how many peers still need pieces (a finished receiver
// keeps serving while some do).
//
// It is fed libtorrent's peer list once per poll; a peer that disconnects
// keeps what it was last seen to have sent. A peer counts as a source when
// its peer id carries the seed's fingerprint (`replicate seed`), or, for
// other clients, when it already had every piece when first seen.
#pragma once

#include <chrono>
#include <cstdint>
#include <libtorrent/peer_id.hpp>
#include <libtorrent/peer_info.hpp>
#include <map>
#include <vector>

namespace dynamicfs {

// Peer-id prefixes (libtorrent's Azureus-style fingerprint) of `replicate
// seed` and `replicate fetch`: "-DS0100-" and "-DF0100-".
inline constexpr char kSeedFingerprint[] = "-DS0100-";
inline constexpr char kFetchFingerprint[] = "-DF0100-";

struct SwarmCounts {
  int peers = 0;                   // connected now
  int complete_peers = 0;          // of which have every piece
  int wanting_peers = 0;           // of which lack pieces and ask us for some
  int peers_seen = 0;              // distinct peers since the start
  uint64_t from_source = 0;        // payload bytes received from sources
  uint64_t from_peers = 0;         // ... from other receivers
  double max_no_peer_seconds = 0;  // longest stretch with no peer while fetching
};

class SwarmTally {
 public:
  using Clock = std::chrono::steady_clock;

  // `fetching`: the torrent still lacks pieces (a stretch with no peer counts
  // only then).
  void update(const std::vector<lt::peer_info>& peers, bool fetching, Clock::time_point now);
  const SwarmCounts& counts() const { return m_counts; }

  static bool is_seed_peer_id(const lt::peer_id& pid);

 private:
  struct Tally {
    bool source = false;
    uint64_t downloaded = 0;  // payload from this peer, as last seen
  };
  std::map<lt::peer_id, Tally> m_peers;
  SwarmCounts m_counts;
  bool m_had_no_peer = false;
  Clock::time_point m_no_peer_since{};
};

}  // namespace dynamicfs

// SwarmTally: classifying peers and summing what they sent.
#include "src/replication/swarm_tally.h"

#include <algorithm>
#include <cstring>

namespace dynamicfs {

bool SwarmTally::is_seed_peer_id(const lt::peer_id& pid) {
  return std::memcmp(pid.data(), kSeedFingerprint, sizeof(kSeedFingerprint) - 1) == 0;
}

void SwarmTally::update(const std::vector<lt::peer_info>& peers, bool fetching,
                        Clock::time_point now) {
  SwarmCounts c;
  c.max_no_peer_seconds = m_counts.max_no_peer_seconds;
  for (const auto& p : peers) {
    // Before the handshake the peer id is unknown (all zeros): not yet a peer.
    if (p.pid.is_all_zeros()) continue;
    const bool complete = static_cast<bool>(p.flags & lt::peer_info::seed);
    auto [it, fresh] = m_peers.try_emplace(p.pid);
    if (fresh) it->second.source = is_seed_peer_id(p.pid) || complete;
    it->second.downloaded = std::max(it->second.downloaded,
                                     static_cast<uint64_t>(std::max<int64_t>(0, p.total_download)));
    ++c.peers;
    if (complete) ++c.complete_peers;
    if (!complete && (p.flags & lt::peer_info::remote_interested)) ++c.wanting_peers;
  }
  c.peers_seen = static_cast<int>(m_peers.size());
  for (const auto& [pid, t] : m_peers) (t.source ? c.from_source : c.from_peers) += t.downloaded;
  if (fetching && c.peers == 0) {
    if (!m_had_no_peer) m_no_peer_since = now;
    m_had_no_peer = true;
    c.max_no_peer_seconds = std::max(c.max_no_peer_seconds,
                                     std::chrono::duration<double>(now - m_no_peer_since).count());
  } else {
    m_had_no_peer = false;
  }
  m_counts = c;
}

}  // namespace dynamicfs

// RequestNudge: keeps receivers asking this peer for pieces. libtorrent
// (2.0) picks blocks to request from a peer when the peer unchokes it, when
// a block arrives, or after a rejection; not when the peer announces a new
// piece while nothing is outstanding on that connection. A receiver that
// connected early, found nothing new at that moment and was already
// interested then sits idle on that connection until its end game, about
// five seconds later; measured on 4 receivers at 400 Mbit/s, a third of the
// runs had one receiver finish 2.7 s after the others, fed by the seed alone
// in the meantime.
//
// The nudge is the protocol's own: an UNCHOKE to a peer that is already
// unchoked (BEP 3 allows repeating it; libtorrent sends one itself for the
// same reason when an interested message crosses its unchoke) makes the
// receiver pick blocks again. It is sent when this peer announces a piece
// or once a second, only to peers that are interested, unchoked and have
// not asked for anything lately, at most every kQuiet.
#pragma once

#include <chrono>
#include <libtorrent/extensions.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <memory>

namespace dynamicfs {

class RequestNudge : public lt::torrent_plugin {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kQuiet{250};

  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& pc) override;

  // Whether an idle, interested peer is due a nudge: nothing asked since
  // `last_request` and none sent since `last_nudge`.
  static bool due(Clock::time_point now, Clock::time_point last_request,
                  Clock::time_point last_nudge);

 private:
  class Peer;
};

}  // namespace dynamicfs

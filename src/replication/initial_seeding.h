// InitialSeeding: the seed of an image steers each receiver to pieces that
// no other receiver has been sent yet, so that every piece leaves the seed
// once before any leaves it twice, and the receivers spread the rest among
// themselves. Imaging 8 machines then costs the seed's link one image, not
// two: measured before it (bench/replication.sh, 400 Mbit/s links) the seed
// sent 1.7x the image for 4 receivers and 2.1x for 8, because receivers
// pick "rarest" pieces only from what they have heard of, and kept asking
// the seed for pieces another receiver already had.
//
// How: a libtorrent torrent plugin on the seed, speaking only standard
// protocol messages to each receiver that has the fast extension:
//   - SUGGEST PIECE (BEP 6) for a window of pieces not yet given to anyone;
//     libtorrent receivers request suggested pieces before any other;
//   - DONT_HAVE (lt_donthave, BEP 54) to the others for a piece just given
//     out, and HAVE again once they may get it from the seed too (see
//     kInFlight, kSpread); a request that crosses it is refused (REJECT);
//   - a peer-exchange message (ut_pex, BEP 11) introducing each receiver to
//     the ones already there when it arrives, instead of libtorrent's first
//     exchange a second later and then once a minute.
// libtorrent's own super seeding hides all but two pieces per receiver and
// was measured 3x slower for one receiver (each piece waits for a round
// trip); here the seed hides only what is on its way elsewhere, so a
// receiver that ignores suggestions (another client) is served as before,
// only without the steering.
//
// Everything runs on libtorrent's network thread; no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <libtorrent/extensions.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <memory>
#include <vector>

namespace dynamicfs {

struct InitialSeedingCounts {
  int given_out = 0;      // requested from the seed by some receiver at least once
  int suggested = 0;      // SUGGEST messages sent
  int rejected = 0;       // requests refused: the piece was just given to another receiver
  int hidden = 0;         // DONT_HAVE messages sent (pieces hidden while on their way elsewhere)
  int introductions = 0;  // peer-exchange messages telling receivers of each other
};

class InitialSeeding : public lt::torrent_plugin,
                       public std::enable_shared_from_this<InitialSeeding> {
 public:
  using Clock = std::chrono::steady_clock;
  // Pieces a receiver is pointed at, at a time: enough to keep its request
  // queue to the seed busy.
  static constexpr int kWindow = 8;
  // A piece given to one receiver is refused to others while it is on its
  // way (at most kInFlight) and for kSpread after the last block was asked
  // for: the time the receivers need to pass it on among themselves. After
  // that a receiver that still asks the seed may have no other source.
  static constexpr std::chrono::milliseconds kInFlight{5000};
  static constexpr std::chrono::milliseconds kSpread{2000};
  static constexpr std::chrono::milliseconds kSpreadMax{10000};

  // `seed`: a shuffled order to hand pieces out in.
  InitialSeeding(int num_pieces, int piece_length, int last_piece_length, uint32_t seed);

  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& pc) override;

  // Thread-safe snapshot (read from the CLI's thread).
  InitialSeedingCounts counts() const;

  // The bookkeeping, called by the peer plugins (network thread); a peer is
  // named by an opaque pointer. Public so that tests can drive it directly.
  // A piece to suggest to `peer` (not held by it: `has`), or -1.
  int next_piece_for(const void* peer, const std::function<bool(int)>& has, Clock::time_point now);
  // `peer` asks for a block of `piece`; false: refuse it (see kSpread).
  bool on_request(const void* peer, int piece, int start, int length, Clock::time_point now);
  // A suggestion `peer` did not act on goes back to the pool.
  void give_back(const void* peer, int piece);
  // `peer` left: what it was given but had not asked for in full goes back.
  void release(const void* peer);
  // Whether `piece` may leave the seed again (see kInFlight, kSpread).
  bool may_resend(int piece, Clock::time_point now) const;
  const void* owner_of(int piece) const { return m_pieces[static_cast<size_t>(piece)].owner; }

 private:
  class Peer;
  enum class State : uint8_t { kFree, kSuggested, kOwned, kSent };
  struct Piece {
    State state = State::kFree;
    const void* owner = nullptr;
    Clock::time_point since{};  // of the last state change
  };
  bool all_exhausted() const;
  // Whether a request for [start, start + length) asks for `piece`'s last block.
  bool is_last_block(int piece, int start, int length) const;
  bool take(int piece, const void* peer, const std::function<bool(int)>& has,
            Clock::time_point now);

  int m_num_pieces;
  int m_piece_length;
  int m_last_piece_length;
  std::vector<int> m_order;     // pieces in hand-out order
  size_t m_cursor = 0;          // m_order before it: no longer free
  std::vector<int> m_returned;  // suggestions given back
  std::vector<Piece> m_pieces;
  std::vector<Peer*> m_live;  // peers taking part, told when a piece is given out
  std::atomic<int> m_given_out{0};
  std::atomic<int> m_suggested{0};
  std::atomic<int> m_rejected{0};
  std::atomic<int> m_hidden_count{0};
  std::atomic<int> m_introductions{0};
  uint64_t m_serials = 0;
};

}  // namespace dynamicfs

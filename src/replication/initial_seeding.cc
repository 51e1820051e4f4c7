// InitialSeeding: the hand-out order, the per-receiver suggestion window and
// the refusal of requests for pieces just given to another receiver.
#include "src/replication/initial_seeding.h"

#include <algorithm>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>
#include <optional>
#include <random>
#include <string>

namespace dynamicfs {

namespace {

// A suggestion not acted on within this many seconds (peer-plugin ticks) goes
// back to the pool: the receiver ignores suggestions or got the piece
// elsewhere.
constexpr int kStaleTicks = 3;
// How far past the cursor one hand-out looks for a piece the peer lacks
// (a receiver resuming or updating holds most pieces already).
constexpr size_t kMaxScan = 4096;
// BEP 6 (fast extension): SUGGEST PIECE is message 13, REJECT REQUEST 16; a
// peer announces the extension with bit 0x04 of the last reserved byte of
// its handshake.
constexpr char kHaveId = 4;
constexpr char kExtendedId = 20;
constexpr char kSuggestId = 13;
constexpr char kRejectId = 16;
constexpr int kFastBitByte = 7;
constexpr char kFastBit = 0x04;
// ut_pex (BEP 11) flag of a peer that accepts incoming connections.
constexpr char kPexConnectable = 0x10;
// At most this often a receiver is told of newcomers (libtorrent accepts at
// most 6 peer-exchange messages a minute from one peer, its own included).
constexpr std::chrono::seconds kIntroInterval{15};

char* put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) *p++ = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return p;
}

}  // namespace

class InitialSeeding::Peer : public lt::peer_plugin {
 public:
  Peer(std::shared_ptr<InitialSeeding> owner, lt::peer_connection_handle pc)
      : m_owner(std::move(owner)), m_pc(std::move(pc)) {}
  ~Peer() override { m_owner->release(this); }

  lt::string_view type() const override { return "dynamicfs_initial_seeding"; }

  // The id the peer gave lt_donthave (BEP 54) in its extension handshake.
  // Also the ids of ut_pex and the port it listens on, to introduce it.
  bool on_extension_handshake(const lt::bdecode_node& h) override {
    auto id_of = [](const lt::bdecode_node& m, const char* name) {
      const auto id = m.dict_find_int_value(name, 0);
      return id > 0 && id < 256 ? static_cast<int>(id) : 0;
    };
    if (auto m = h.dict_find_dict("m")) {
      m_donthave_id = id_of(m, "lt_donthave");
      m_pex_id = id_of(m, "ut_pex");
    }
    const auto port = h.dict_find_int_value("p", 0);
    if (port > 0 && port < 65536) m_listen_port = static_cast<int>(port);
    return true;
  }

  // Another receiver was just given `piece`: this one is told the seed does
  // not have it, so it does not ask (and is not refused) while the piece
  // is on its way there; it gets it from that receiver instead.
  void hide(int piece) {
    if (m_donthave_id == 0 || m_pc.is_disconnecting() || m_pc.has_piece(lt::piece_index_t(piece)))
      return;
    char msg[10];
    char* p = put_u32(msg, 6);
    *p++ = kExtendedId;
    *p++ = static_cast<char>(m_donthave_id);
    put_u32(p, static_cast<uint32_t>(piece));
    m_pc.send_buffer(msg, sizeof msg);
    m_hidden.push_back(piece);
    m_owner->m_hidden_count.fetch_add(1, std::memory_order_relaxed);
  }

  // Only peers that speak the fast extension take part (others would drop
  // the connection on a SUGGEST or REJECT); the rest are served as usual.
  bool on_handshake(lt::span<char const> reserved) override {
    return reserved.size() > kFastBitByte && (reserved[kFastBitByte] & kFastBit) != 0;
  }
  bool on_bitfield(const lt::bitfield&) override { return start(); }
  bool on_have_none() override { return start(); }
  bool on_have(lt::piece_index_t p) override {
    drop(static_cast<int>(p));
    top_up();
    return false;
  }
  bool on_request(const lt::peer_request& r) override {
    const int piece = static_cast<int>(r.piece);
    const auto now = Clock::now();
    if (!m_owner->on_request(this, piece, r.start, r.length, now)) {
      char msg[17];
      char* p = put_u32(msg, 13);
      *p++ = kRejectId;
      p = put_u32(p, static_cast<uint32_t>(piece));
      p = put_u32(p, static_cast<uint32_t>(r.start));
      put_u32(p, static_cast<uint32_t>(r.length));
      m_pc.send_buffer(msg, sizeof msg);
      return true;  // handled: libtorrent does not serve it
    }
    if (m_owner->is_last_block(piece, r.start, r.length)) drop(piece);
    top_up();
    return false;
  }
  void on_disconnect(const lt::error_code&) override {
    m_owner->release(this);
    m_window.clear();
    m_hidden.clear();
    m_started = false;
  }
  void tick() override {
    for (auto it = m_window.begin(); it != m_window.end();) {
      if (++it->age > kStaleTicks) {
        m_owner->give_back(this, it->piece);
        it = m_window.erase(it);
      } else {
        ++it;
      }
    }
    // Hidden pieces that may be sent again are shown again.
    const auto now = Clock::now();
    for (auto it = m_hidden.begin(); it != m_hidden.end();) {
      if (m_pc.has_piece(lt::piece_index_t(*it))) {
        it = m_hidden.erase(it);
      } else if (m_owner->may_resend(*it, now)) {
        show(*it);
        it = m_hidden.erase(it);
      } else {
        ++it;
      }
    }
    // A peer that sent no bitfield (no pieces, and no HAVE NONE) starts here.
    if (!m_pc.is_seed()) start();
    if (m_started && now - m_last_intro >= kIntroInterval) introduce();
  }

  // Where other receivers reach this one (none: not known).
  std::optional<lt::tcp::endpoint> endpoint() const {
    if (m_pc.is_outgoing()) return m_pc.remote();
    if (m_listen_port == 0) return std::nullopt;
    return lt::tcp::endpoint(m_pc.remote().address(), static_cast<uint16_t>(m_listen_port));
  }
  uint64_t serial() const { return m_serial; }
  // Nothing left to hand this peer: every piece it lacks was given out (or
  // it lacks none).
  bool exhausted() const { return m_exhausted || m_pc.is_seed(); }

 private:
  struct Entry {
    int piece;
    int age;
  };
  bool start() {
    if (!m_started) {
      m_serial = ++m_owner->m_serials;
      m_owner->m_live.push_back(this);
      // Pieces already on their way to other receivers are hidden from
      // this one too.
      const auto now = Clock::now();
      for (int piece = 0; piece < m_owner->m_num_pieces; ++piece) {
        if (m_owner->owner_of(piece) != this && !m_owner->may_resend(piece, now)) hide(piece);
      }
      m_started = true;
      introduce();
    }
    top_up();
    return false;
  }
  // Tells this receiver where the others are (a ut_pex message, BEP 11),
  // at its start and then at most every kIntroInterval for newcomers, so
  // that receivers find each other within a round trip instead of after
  // libtorrent's once-a-minute peer exchange.
  void introduce() {
    m_last_intro = Clock::now();
    if (m_pex_id == 0 || m_pc.is_disconnecting()) return;
    std::string v4, v4f, v6, v6f;
    uint64_t upto = m_introduced_upto;
    for (const Peer* other : m_owner->m_live) {
      if (other == this || other->serial() <= m_introduced_upto) continue;
      upto = std::max(upto, other->serial());
      auto ep = other->endpoint();
      if (!ep) continue;
      std::string& out = ep->address().is_v4() ? v4 : v6;
      if (ep->address().is_v4()) {
        auto b = ep->address().to_v4().to_bytes();
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
      } else {
        auto b = ep->address().to_v6().to_bytes();
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
      }
      out.push_back(static_cast<char>(ep->port() >> 8));
      out.push_back(static_cast<char>(ep->port() & 0xff));
      (ep->address().is_v4() ? v4f : v6f).push_back(kPexConnectable);
    }
    m_introduced_upto = upto;
    if (v4.empty() && v6.empty()) return;
    lt::entry msg;
    msg["added"] = v4;
    msg["added.f"] = v4f;
    msg["added6"] = v6;
    msg["added6.f"] = v6f;
    msg["dropped"] = std::string();
    std::vector<char> body;
    lt::bencode(std::back_inserter(body), msg);
    std::vector<char> frame(6);
    put_u32(frame.data(), static_cast<uint32_t>(body.size() + 2));
    frame[4] = kExtendedId;
    frame[5] = static_cast<char>(m_pex_id);
    frame.insert(frame.end(), body.begin(), body.end());
    m_pc.send_buffer(frame.data(), static_cast<int>(frame.size()));
    m_owner->m_introductions.fetch_add(1, std::memory_order_relaxed);
  }
  void show(int piece) { send_piece_message(kHaveId, piece); }
  // A message whose payload is one piece index (HAVE, SUGGEST PIECE).
  void send_piece_message(char id, int piece) {
    char msg[9];
    char* p = put_u32(msg, 5);
    *p++ = id;
    put_u32(p, static_cast<uint32_t>(piece));
    m_pc.send_buffer(msg, sizeof msg);
  }
  void drop(int piece) {
    m_window.erase(std::remove_if(m_window.begin(), m_window.end(),
                                  [piece](const Entry& e) { return e.piece == piece; }),
                   m_window.end());
  }
  void top_up() {
    if (!m_started || m_pc.is_disconnecting() || m_pc.is_seed()) return;
    const auto now = Clock::now();
    auto has = [this](int piece) { return m_pc.has_piece(lt::piece_index_t(piece)); };
    while (static_cast<int>(m_window.size()) < kWindow) {
      const int piece = m_owner->next_piece_for(this, has, now);
      m_exhausted = piece < 0;
      if (piece < 0) return;
      m_window.push_back({piece, 0});
      if (auto h = std::find(m_hidden.begin(), m_hidden.end(), piece); h != m_hidden.end()) {
        show(piece);  // given back by the receiver it was hidden for
        m_hidden.erase(h);
      }
      send_piece_message(kSuggestId, piece);
      m_owner->m_suggested.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::shared_ptr<InitialSeeding> m_owner;
  lt::peer_connection_handle m_pc;
  std::vector<Entry> m_window;
  std::vector<int> m_hidden;  // pieces this peer was told the seed lacks
  int m_donthave_id = 0;
  int m_pex_id = 0;
  int m_listen_port = 0;
  uint64_t m_serial = 0;           // order of start among peers
  uint64_t m_introduced_upto = 0;  // peers up to this serial were introduced
  Clock::time_point m_last_intro{};
  bool m_started = false;
  bool m_exhausted = false;
};

InitialSeeding::InitialSeeding(int num_pieces, int piece_length, int last_piece_length,
                               uint32_t seed)
    : m_num_pieces(num_pieces),
      m_piece_length(piece_length),
      m_last_piece_length(last_piece_length),
      m_order(static_cast<size_t>(std::max(0, num_pieces))),
      m_pieces(static_cast<size_t>(std::max(0, num_pieces))) {
  for (size_t i = 0; i < m_order.size(); ++i) m_order[i] = static_cast<int>(i);
  // Receivers that start together then want different pieces from the
  // start, and neighbouring pieces go to different receivers.
  std::mt19937 rng(seed);
  std::shuffle(m_order.begin(), m_order.end(), rng);
}

std::shared_ptr<lt::peer_plugin> InitialSeeding::new_connection(
    const lt::peer_connection_handle& pc) {
  return std::make_shared<Peer>(shared_from_this(), pc);
}

bool InitialSeeding::take(int piece, const void* peer, const std::function<bool(int)>& has,
                          Clock::time_point now) {
  Piece& p = m_pieces[static_cast<size_t>(piece)];
  if (p.state != State::kFree || has(piece)) return false;
  p = {State::kSuggested, peer, now};
  for (Peer* other : m_live) {
    if (other != peer) other->hide(piece);
  }
  return true;
}

bool InitialSeeding::may_resend(int piece, Clock::time_point now) const {
  const Piece& p = m_pieces[static_cast<size_t>(piece)];
  switch (p.state) {
    case State::kFree:
      return true;
    case State::kSuggested:
    case State::kOwned:
      return p.owner == nullptr || now - p.since >= kInFlight;
    case State::kSent:
      // A piece leaves the seed twice only once no receiver still lacks a
      // piece that has not left it once (and kSpread passed), or after
      // kSpreadMax whatever else is pending.
      return p.owner == nullptr || now - p.since >= kSpreadMax ||
             (now - p.since >= kSpread && all_exhausted());
  }
  return true;
}

bool InitialSeeding::all_exhausted() const {
  return std::all_of(m_live.begin(), m_live.end(), [](const Peer* p) { return p->exhausted(); });
}

int InitialSeeding::next_piece_for(const void* peer, const std::function<bool(int)>& has,
                                   Clock::time_point now) {
  while (!m_returned.empty()) {
    const int piece = m_returned.back();
    m_returned.pop_back();
    if (take(piece, peer, has, now)) return piece;
  }
  // The cursor passes only pieces that are no longer free; a free piece
  // this peer already has stays for the next peer.
  while (m_cursor < m_order.size() &&
         m_pieces[static_cast<size_t>(m_order[m_cursor])].state != State::kFree) {
    ++m_cursor;
  }
  for (size_t i = m_cursor; i < m_order.size() && i < m_cursor + kMaxScan; ++i) {
    if (take(m_order[i], peer, has, now)) return m_order[i];
  }
  return -1;
}

bool InitialSeeding::on_request(const void* peer, int piece, int start, int length,
                                Clock::time_point now) {
  if (piece < 0 || piece >= m_num_pieces) return true;  // libtorrent refuses it
  Piece& p = m_pieces[static_cast<size_t>(piece)];
  const State done = is_last_block(piece, start, length) ? State::kSent : State::kOwned;
  const bool mine = p.owner == peer;
  if (!mine && !may_resend(piece, now)) {
    m_rejected.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  switch (p.state) {
    case State::kFree:
    case State::kSuggested:
      // Leaves the seed for the first time, to this peer (a suggestion
      // another peer left unused past kInFlight included).
      m_given_out.fetch_add(1, std::memory_order_relaxed);
      p = {done, peer, now};
      break;
    case State::kOwned:
      if (mine && done == State::kSent) p = {State::kSent, peer, now};
      break;
    case State::kSent:
      break;  // sent again: nothing to track any more
  }
  return true;
}

void InitialSeeding::give_back(const void* peer, int piece) {
  if (piece < 0 || piece >= m_num_pieces) return;
  Piece& p = m_pieces[static_cast<size_t>(piece)];
  if (p.state != State::kSuggested || p.owner != peer) return;
  p = {};
  m_returned.push_back(piece);
}

void InitialSeeding::release(const void* peer) {
  m_live.erase(std::remove(m_live.begin(), m_live.end(), peer), m_live.end());
  for (size_t i = 0; i < m_pieces.size(); ++i) {
    Piece& p = m_pieces[i];
    if (p.owner != peer) continue;
    if (p.state == State::kSuggested || p.state == State::kOwned) {
      p = {};
      m_returned.push_back(static_cast<int>(i));
    } else {
      p.owner = nullptr;  // sent: nobody to wait for any more
    }
  }
}

bool InitialSeeding::is_last_block(int piece, int start, int length) const {
  const int size = piece == m_num_pieces - 1 ? m_last_piece_length : m_piece_length;
  return start + length >= size;
}

InitialSeedingCounts InitialSeeding::counts() const {
  InitialSeedingCounts c;
  c.given_out = m_given_out.load(std::memory_order_relaxed);
  c.suggested = m_suggested.load(std::memory_order_relaxed);
  c.rejected = m_rejected.load(std::memory_order_relaxed);
  c.hidden = m_hidden_count.load(std::memory_order_relaxed);
  c.introductions = m_introductions.load(std::memory_order_relaxed);
  return c;
}

}  // namespace dynamicfs

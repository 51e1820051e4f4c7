// RequestNudge: the per-connection timing of the repeated UNCHOKE.
#include "src/replication/request_nudge.h"

#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>

namespace dynamicfs {

class RequestNudge::Peer : public lt::peer_plugin {
 public:
  explicit Peer(lt::peer_connection_handle pc) : m_pc(std::move(pc)) {}

  lt::string_view type() const override { return "dynamicfs_request_nudge"; }
  bool on_request(const lt::peer_request&) override {
    m_last_request = Clock::now();
    return false;
  }
  void sent_have(lt::piece_index_t) override { maybe_nudge(); }
  void tick() override { maybe_nudge(); }

 private:
  void maybe_nudge() {
    if (m_pc.is_disconnecting() || m_pc.is_choked() || !m_pc.is_peer_interested() ||
        m_pc.in_handshake()) {
      return;
    }
    const auto now = Clock::now();
    if (!due(now, m_last_request, m_last_nudge)) return;
    static constexpr char kUnchoke[] = {0, 0, 0, 1, 1};  // length 1, message 1
    m_pc.send_buffer(kUnchoke, sizeof kUnchoke);
    m_last_nudge = now;
  }

  lt::peer_connection_handle m_pc;
  Clock::time_point m_last_request{};
  Clock::time_point m_last_nudge{};
};

std::shared_ptr<lt::peer_plugin> RequestNudge::new_connection(
    const lt::peer_connection_handle& pc) {
  return std::make_shared<Peer>(pc);
}

bool RequestNudge::due(Clock::time_point now, Clock::time_point last_request,
                       Clock::time_point last_nudge) {
  return now - last_request >= kQuiet && now - last_nudge >= kQuiet;
}

}  // namespace dynamicfs

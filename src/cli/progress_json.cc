// progress_json: the field names documented in docs/replication.md.
#include "src/cli/progress_json.h"

namespace dynamicfs {

nlohmann::json progress_json(const ReplicationProgress& p, double elapsed) {
  double remaining =
      p.bytes_total > p.bytes_done ? static_cast<double>(p.bytes_total - p.bytes_done) : 0;
  double eta = p.download_rate > 0 ? remaining / p.download_rate : -1;
  return {{"time", elapsed},
          {"state", p.state},
          {"progress", p.bytes_total
                           ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                           : 1.0},
          {"bytes_done", p.bytes_done},
          {"bytes_total", p.bytes_total},
          {"downloaded", p.downloaded},
          {"uploaded", p.uploaded},
          {"download_rate", p.download_rate},
          {"upload_rate", p.upload_rate},
          {"peers", p.swarm.peers},
          {"complete_peers", p.swarm.complete_peers},
          {"peers_seen", p.swarm.peers_seen},
          {"wanting_peers", p.swarm.wanting_peers},
          {"from_seed", p.swarm.from_source},
          {"from_peers", p.swarm.from_peers},
          {"max_no_peer_seconds", p.swarm.max_no_peer_seconds},
          {"pieces_given_out", p.initial.given_out},
          {"suggestions_sent", p.initial.suggested},
          {"requests_refused", p.initial.rejected},
          {"pieces_hidden", p.initial.hidden},
          {"introductions", p.initial.introductions},
          {"pieces_done", p.pieces_done},
          {"pieces_total", p.pieces_total},
          {"eta_seconds", eta}};
}

}  // namespace dynamicfs

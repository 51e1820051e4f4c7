// ReplicationSession: one libtorrent session that seeds or fetches one disk
// image through RawDiskIo. It never reaches beyond where it is told: no DHT,
// no UPnP or NAT-PMP, no trackers needed; peers come from local service
// discovery on the LAN (optional) or are given explicitly. The CLI polls
// progress() once a second and decides when it is done.
#pragma once

#include <algorithm>
#include <chrono>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/replication/initial_seeding.h"
#include "src/replication/raw_disk_io.h"
#include "src/replication/request_nudge.h"
#include "src/replication/swarm_tally.h"

namespace dynamicfs {

struct ReplicationOptions {
  std::string torrent_file;
  std::string device;  // --source (seed) or --target (fetch)
  bool seed = false;
  std::string listen = "0.0.0.0:6881";
  std::vector<std::string> peers;  // HOST:PORT to connect to
  bool local_discovery = true;
  int rate_limit = 0;  // bytes/s: upload for a seed, download for a fetch; 0 = none
  // An operator's --max-rate in MB/s as rate_limit (capped at 2 GB/s).
  static int rate_from_mb(double mb) { return static_cast<int>(std::min(mb * 1e6, 2e9)); }
  // Seed: point each receiver at pieces no other receiver was given yet
  // (see InitialSeeding), so every piece leaves the seed once before any
  // leaves it twice.
  bool initial_seeding = true;
  int io_threads = 2;  // more only contend on the device's inode lock
  int hash_threads = 2;
  // For a volume snapshot image: the files its regions map to (see
  // ImageTarget); empty: `device` is the one disk.
  std::map<uint32_t, std::string> regions;
  // Fetch: the pieces the target is known to hold (PieceReuse); when set,
  // nothing is checked before the fetch and only the others are fetched.
  std::vector<bool> have_pieces;
};

struct ReplicationProgress {
  std::string state;  // checking, downloading, seeding, error
  uint64_t bytes_total = 0;
  uint64_t bytes_done = 0;                 // verified
  uint64_t downloaded = 0, uploaded = 0;   // payload bytes this run
  int download_rate = 0, upload_rate = 0;  // bytes/s
  int pieces_total = 0, pieces_done = 0;
  SwarmCounts swarm;             // peers, where the bytes came from, waits with no peer
  InitialSeedingCounts initial;  // seed: pieces given out at least once
  bool finished = false;         // every piece verified on the device
  std::string error;             // set when the torrent stopped on an error
};

class ReplicationSession {
 public:
  // Loads and checks the torrent; for a fetch also checks the target.
  static Result<std::shared_ptr<const lt::torrent_info>> load_torrent(const std::string& path);

  explicit ReplicationSession(ReplicationOptions o);
  ~ReplicationSession();
  ReplicationSession(const ReplicationSession&) = delete;
  ReplicationSession& operator=(const ReplicationSession&) = delete;

  // Checks the options (peers, listen address) before anything is touched.
  Status prepare();
  // A volume snapshot image: the files its regions map to (before start).
  void set_regions(std::map<uint32_t, std::string> regions) { m_opts.regions = std::move(regions); }
  // Starts seeding or fetching; `fresh_target`: the target was just created
  // (all zeros), so there is nothing on it to check.
  Status start(std::shared_ptr<const lt::torrent_info> ti, bool fresh_target);
  ReplicationProgress progress();
  // Stops the torrent, flushes every write and syncs the device.
  Status finish();
  // A fetch that is finished: waits until every write landed and syncs the
  // target, while the torrent goes on serving peers.
  Status flush();
  // The bound listen port (for --listen ADDR:0).
  int listen_port() const;
  RawDiskStats disk_stats() const;

 private:
  void drain_alerts();
  void connect_peers();
  Status sync_target();
  ReplicationOptions m_opts;
  std::shared_ptr<RawDiskIo*> m_disk_io = std::make_shared<RawDiskIo*>(nullptr);
  std::shared_ptr<std::atomic<uint64_t>> m_write_errors =
      std::make_shared<std::atomic<uint64_t>>(0);
  std::unique_ptr<lt::session> m_session;
  lt::torrent_handle m_handle;
  std::string m_error;
  bool m_flushed = false;  // a cache_flushed_alert arrived
  std::vector<lt::tcp::endpoint> m_peer_endpoints;
  std::string m_listen;  // resolved by prepare()
  std::chrono::steady_clock::time_point m_last_connect;
  SwarmTally m_swarm;
  std::shared_ptr<InitialSeeding> m_initial_seeding;  // seed only
};

}  // namespace dynamicfs

// LabFollower: one receiver of lab sync (`replicate follow`). It polls the
// publisher's signed feed; when a newer snapshot is published it fetches it
// into the spare slot of its FollowSlots directory (a delta against the
// current slot, from the master and from the other followers), switches
// only when every piece is verified and the metadata is in place, remounts
// the operator's mountpoint on it, and then serves it to the followers
// still fetching. Its progress goes to DIR/status.json (read by `status`
// and the mount's metrics), to --json lines and to --metrics-listen.
#pragma once

#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "src/cli/commands.h"
#include "src/control/http_client.h"
#include "src/control/http_server.h"
#include "src/replication/feed_secret.h"
#include "src/replication/follow_slots.h"
#include "src/replication/lab_feed.h"
#include "src/replication/replication_session.h"

namespace dynamicfs {

// Set by the command's signal handlers.
struct FollowSignals {
  volatile sig_atomic_t stop = 0;    // SIGINT, SIGTERM
  volatile sig_atomic_t reload = 0;  // SIGHUP: follow.json changed (rollback)
  volatile sig_atomic_t poll = 0;    // SIGUSR1: read the feed now
};

class LabFollower {
 public:
  LabFollower(const FollowOptions& o, FollowSlots slots, FeedSecret secret, HttpUrl feed,
              FollowSignals* signals);
  ~LabFollower();
  LabFollower(const LabFollower&) = delete;
  LabFollower& operator=(const LabFollower&) = delete;

  // Runs until stopped (or, with --once, until the newest snapshot is
  // current). Returns the exit status.
  int run();

 private:
  static constexpr int kLongPollSeconds = 20;  // the publisher holds /feed?after= this long

  // The signed body at PATH of the feed's host.
  Result<std::string> get_signed(const std::string& path, size_t max_bytes,
                                 std::chrono::seconds timeout);
  // The feed; with AFTER > 0 once it names a newer generation (or at the
  // publisher's long-poll deadline).
  Result<LabFeed> read_feed(uint64_t after);
  // Fetches ENTRY into the spare slot and switches to it. EINTR if stopped.
  Status apply(const LabFeed& feed, const LabFeedEntry& entry);
  Status mount_current();
  void seed_current(const LabFeed& feed);
  void stop_seeding();
  void event(nlohmann::json j);  // a --json line
  void write_status();
  void wait_poll_interval();
  void handle_reload();
  std::string render_metrics();

  FollowOptions m_opts;
  FollowSlots m_slots;
  FeedSecret m_secret;
  HttpUrl m_feed;
  std::string m_feed_url;  // as recorded and shown
  FollowSignals* m_signals;
  std::unique_ptr<HttpServer> m_metrics;
  std::unique_ptr<ReplicationSession> m_seed;  // serves the current snapshot
  uint64_t m_seed_generation = 0;

  mutable std::mutex m_mu;  // the fields below (the metrics thread reads them)
  std::string m_state = "starting";
  nlohmann::json m_fetch;  // the fetch in progress, null when none
  std::string m_last_error;
  uint64_t m_latest_published = 0;
  uint64_t m_current_generation = 0;
  uint64_t m_received_bytes = 0;  // over every fetch of this run
  uint64_t m_switches = 0;
  uint64_t m_errors = 0;
  double m_last_switch_unix = 0;
};

}  // namespace dynamicfs

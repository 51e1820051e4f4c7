// LabPublisher: the master side of lab sync (`replicate publish`). Each
// publish takes a snapshot of the mounted volume, makes its torrent, seeds
// it (one ReplicationSession per published snapshot, next to the previous
// ones, up to --keep) and adds it to the signed feed it serves over HTTP
// (GET /feed, GET /torrents/GENERATION, GET /metrics). Older snapshots are
// unpublished and deleted. What is published survives a restart:
// VOLUME/publish/state.json lists it, and it is seeded again.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "src/cli/commands.h"
#include "src/control/http_server.h"
#include "src/extent/snapshot_catalog.h"
#include "src/replication/feed_secret.h"
#include "src/replication/lab_feed.h"
#include "src/replication/replication_session.h"

namespace dynamicfs {

class LabPublisher {
 public:
  // How long GET /feed?after=N waits for a generation above N.
  static constexpr std::chrono::milliseconds kLongPoll{20000};

  LabPublisher(const PublishOptions& o, std::string volume_dir, FeedSecret secret);
  ~LabPublisher();
  LabPublisher(const LabPublisher&) = delete;
  LabPublisher& operator=(const LabPublisher&) = delete;

  static std::string state_dir(const std::string& volume_dir) { return volume_dir + "/publish"; }
  // The newest generation published (state.json), 0 if none; with the
  // count of failed publishes and the last one's message.
  static uint64_t published_generation(const std::string& volume_dir, uint64_t* failures = nullptr,
                                       std::string* last_error = nullptr);
  // A publish failed: counted and kept in state.json (for `publish --now`).
  void record_failure(const std::string& message);

  // Loads what was published before, seeds it again and starts the feed.
  Status start();
  // Publishes a new snapshot; returns its entry.
  Result<LabFeedEntry> publish();
  // Drives the sessions (call every 50-100 ms); fills the upload counters.
  void poll();
  // When the newest snapshot was published (steady clock), if any.
  bool has_published() const;
  double seconds_since_publish() const;
  std::string feed_endpoint() const { return m_http.endpoint(); }
  void stop();

 private:
  struct Published {
    LabFeedEntry entry;
    std::string torrent_file;
    std::string torrent_bytes;
    std::unique_ptr<SnapshotHold> hold;
    std::unique_ptr<ReplicationSession> session;
  };

  HttpReply answer(const HttpRequest& req);
  Status seed(Published* p);
  Status save_state();
  void prune();
  void delete_leftovers();
  LabFeed feed_locked() const;
  std::string render_metrics();

  PublishOptions m_opts;
  std::string m_volume_dir;
  std::string m_volume_uuid;
  FeedSecret m_secret;
  HttpServer m_http;
  mutable std::mutex m_mu;  // m_published, m_generation (the HTTP thread reads them)
  std::deque<Published> m_published;
  uint64_t m_generation = 0;
  std::chrono::steady_clock::time_point m_last_publish;
  std::atomic<uint64_t> m_uploaded{0};
  std::atomic<uint64_t> m_refused{0};
  uint64_t m_failures = 0;  // publishes that failed (main thread only)
  std::string m_last_error;
  std::atomic<uint64_t> m_feed_requests{0};
};

}  // namespace dynamicfs

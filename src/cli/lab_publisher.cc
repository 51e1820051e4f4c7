// LabPublisher: snapshot -> torrent -> seed -> feed, and the feed's HTTP
// routes with their authentication.
#include "src/cli/lab_publisher.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/common/clock.h"
#include "src/common/file_sync.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"
#include "src/control/metric_set.h"
#include "src/control/metrics_http_server.h"
#include "src/extent/volume_config.h"
#include "src/replication/volume_image.h"

namespace dynamicfs {

namespace fs = std::filesystem;

namespace {

std::string state_file(const std::string& volume_dir) {
  return LabPublisher::state_dir(volume_dir) + "/state.json";
}

std::string snapshot_name(uint64_t generation) {
  return "publish-" + std::to_string(generation);
}

// The value of NAME=... in TARGET's query, 0 if none.
uint64_t query_number(const std::string& target, const std::string& name) {
  size_t q = target.find('?');
  if (q == std::string::npos) return 0;
  const std::string key = name + "=";
  for (size_t i = q + 1; i < target.size();) {
    size_t end = target.find('&', i);
    if (end == std::string::npos) end = target.size();
    if (target.compare(i, key.size(), key) == 0)
      return std::strtoull(target.c_str() + i + key.size(), nullptr, 10);
    i = end + 1;
  }
  return 0;
}

}  // namespace

LabPublisher::LabPublisher(const PublishOptions& o, std::string volume_dir, FeedSecret secret)
    : m_opts(o),
      m_volume_dir(std::move(volume_dir)),
      m_secret(std::move(secret)),
      m_http([this](const HttpRequest& r) { return answer(r); }) {}

LabPublisher::~LabPublisher() {
  stop();
}

uint64_t LabPublisher::published_generation(const std::string& volume_dir, uint64_t* failures,
                                            std::string* last_error) {
  auto j = nlohmann::json::parse(read_small_file(state_file(volume_dir)), nullptr, false);
  if (!j.is_object()) return 0;
  try {
    if (failures) *failures = j.value("failures", uint64_t{0});
    if (last_error) *last_error = j.value("last_error", "");
    // The newest generation in the feed (`generation` is the last one taken,
    // which may not be published yet).
    const auto& list = j.at("published");
    return list.empty() ? 0 : list.back().at("generation").get<uint64_t>();
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
}

void LabPublisher::record_failure(const std::string& message) {
  ++m_failures;
  m_last_error = message;
  (void)save_state();
}

Status LabPublisher::start() {
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(m_volume_dir));
  m_volume_uuid = uuid_to_string(cfg.volume_uuid);
  std::error_code ec;
  fs::create_directories(state_dir(m_volume_dir), ec);
  if (ec) return Status::error(ec.value(), "cannot create " + state_dir(m_volume_dir));
  auto j = nlohmann::json::parse(read_small_file(state_file(m_volume_dir)), nullptr, false);
  if (j.is_object()) {
    m_generation = j.value("generation", uint64_t{0});
    for (const auto& e : j.value("published", nlohmann::json::array())) {
      Published p;
      p.entry.generation = e.value("generation", uint64_t{0});
      p.entry.snapshot = e.value("snapshot", "");
      p.entry.published_unix = e.value("published_unix", 0.0);
      p.torrent_file = e.value("torrent_file", "");
      // A snapshot deleted by hand is no longer published.
      if (!SnapshotCatalog::find(m_volume_dir, p.entry.snapshot).is_ok()) continue;
      Status st = seed(&p);
      if (!st.is_ok()) {
        std::fprintf(stderr, "dynamicfs: not seeding generation %llu again: %s\n",
                     static_cast<unsigned long long>(p.entry.generation), st.message().c_str());
        continue;
      }
      m_published.push_back(std::move(p));
    }
  }
  DFS_RETURN_IF_ERROR(save_state());
  delete_leftovers();
  return m_http.start(m_opts.feed_listen, "--feed-listen");
}

Status LabPublisher::seed(Published* p) {
  p->torrent_bytes = read_small_file(p->torrent_file);
  if (p->torrent_bytes.empty()) return Status::error(ENOENT, "cannot read " + p->torrent_file);
  DFS_ASSIGN_OR_RETURN(auto ti, ReplicationSession::load_torrent(p->torrent_file));
  DFS_ASSIGN_OR_RETURN(
      VolumeImageSpec spec,
      VolumeImageSpec::from_json(ImageTorrent::recorded_volume_spec(p->torrent_file)));
  DFS_ASSIGN_OR_RETURN(auto regions, VolumeImage::source_regions(m_volume_dir, spec, &p->hold));
  ReplicationOptions ro;
  ro.torrent_file = p->torrent_file;
  ro.device = m_volume_dir;
  ro.seed = true;
  ro.listen = (m_opts.peer_host.find(':') != std::string::npos ? "[" + m_opts.peer_host + "]"
                                                               : m_opts.peer_host) +
              ":0";
  ro.local_discovery = !m_opts.no_lsd;
  ro.rate_limit = ReplicationOptions::rate_from_mb(m_opts.max_rate_mb);
  ro.regions = std::move(regions);
  p->session = std::make_unique<ReplicationSession>(ro);
  DFS_RETURN_IF_ERROR(p->session->start(ti, false));
  p->entry.torrent_sha256 = FeedSecret::sha256_hex(p->torrent_bytes);
  p->entry.torrent_size = p->torrent_bytes.size();
  p->entry.image_bytes = static_cast<uint64_t>(ti->total_size());
  p->entry.peer_port = p->session->listen_port();
  return Status::ok();
}

Result<LabFeedEntry> LabPublisher::publish() {
  DFS_ASSIGN_OR_RETURN(auto client, ControlClient::connect_mount(m_opts.mountpoint));
  // The generation is taken, durably, before anything can show it: a
  // number once announced never names other contents, even after a crash
  // (a failed publish leaves a gap).
  const uint64_t gen = m_generation + 1;
  {
    std::lock_guard<std::mutex> g(m_mu);
    m_generation = gen;
  }
  DFS_RETURN_IF_ERROR(save_state());
  const std::string name = snapshot_name(gen);
  DFS_RETURN_IF_ERROR(client->call({{"op", "snapshot_create"}, {"name", name}}).status());
  Published p;
  p.entry.generation = gen;
  p.entry.snapshot = name;
  p.entry.published_unix = unix_seconds();
  p.torrent_file = state_dir(m_volume_dir) + "/" + std::to_string(gen) + ".torrent";
  VolumeImageSpec spec;
  auto made =
      VolumeImage::create(m_volume_dir, name, m_opts.piece_size, p.torrent_file, nullptr, &spec);
  Status st = made.is_ok() ? seed(&p) : made.status();
  if (!st.is_ok()) {
    p.session.reset();
    p.hold.reset();
    (void)client->call({{"op", "snapshot_delete"}, {"name", name}});
    ::unlink(p.torrent_file.c_str());
    return Status::error(st.err(), "publishing " + name + ": " + st.message());
  }
  LabFeedEntry entry = p.entry;
  {
    std::lock_guard<std::mutex> g(m_mu);
    m_published.push_back(std::move(p));
  }
  m_last_publish = std::chrono::steady_clock::now();
  DFS_RETURN_IF_ERROR(save_state());
  prune();
  return entry;
}

void LabPublisher::delete_leftovers() {
  // Snapshots publish-N of generations taken but never published (the
  // publisher stopped between the snapshot and the feed).
  auto all = SnapshotCatalog::list(m_volume_dir);
  if (!all.is_ok()) return;
  auto client = ControlClient::connect_mount(m_opts.mountpoint);
  for (const auto& info : all.value()) {
    if (info.name.rfind("publish-", 0) != 0) continue;
    const uint64_t n = std::strtoull(info.name.c_str() + 8, nullptr, 10);
    bool published = false;
    for (const auto& p : m_published) published |= p.entry.snapshot == info.name;
    if (published || n == 0 || n > m_generation || !client.is_ok()) continue;
    auto r = client.value()->call({{"op", "snapshot_delete"}, {"name", info.name}});
    if (r.is_ok())
      std::fprintf(stderr, "dynamicfs: deleted snapshot %s, left unpublished\n", info.name.c_str());
  }
}

void LabPublisher::prune() {
  std::deque<Published> gone;
  {
    std::lock_guard<std::mutex> g(m_mu);
    while (static_cast<int>(m_published.size()) > std::max(1, m_opts.keep)) {
      gone.push_back(std::move(m_published.front()));
      m_published.pop_front();
    }
  }
  if (gone.empty()) return;
  (void)save_state();  // out of the feed before the snapshot goes
  auto client = ControlClient::connect_mount(m_opts.mountpoint);
  for (auto& p : gone) {
    if (p.session) (void)p.session->finish();
    p.hold.reset();
    ::unlink(p.torrent_file.c_str());
    if (client.is_ok()) {
      auto r = client.value()->call({{"op", "snapshot_delete"}, {"name", p.entry.snapshot}});
      if (!r.is_ok())
        std::fprintf(stderr, "dynamicfs: cannot delete unpublished snapshot %s: %s\n",
                     p.entry.snapshot.c_str(), r.status().message().c_str());
    }
  }
}

Status LabPublisher::save_state() {
  nlohmann::json list = nlohmann::json::array();
  uint64_t gen;
  {
    std::lock_guard<std::mutex> g(m_mu);
    gen = m_generation;
    for (const auto& p : m_published)
      list.push_back({{"generation", p.entry.generation},
                      {"snapshot", p.entry.snapshot},
                      {"published_unix", p.entry.published_unix},
                      {"torrent_file", p.torrent_file}});
  }
  nlohmann::json j = {{"generation", gen},      {"volume_uuid", m_volume_uuid},
                      {"pid", ::getpid()},      {"feed", m_http.endpoint()},
                      {"failures", m_failures}, {"last_error", m_last_error},
                      {"published", list}};
  return write_file_atomically(state_file(m_volume_dir), j.dump(2) + "\n");
}

LabFeed LabPublisher::feed_locked() const {
  LabFeed f;
  f.volume_uuid = m_volume_uuid;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  f.publisher = host;
  for (const auto& p : m_published) f.published.push_back(p.entry);
  return f;
}

void LabPublisher::poll() {
  uint64_t up = 0;
  std::lock_guard<std::mutex> g(m_mu);
  for (auto& p : m_published) {
    if (!p.session) continue;
    ReplicationProgress pr = p.session->progress();
    up += pr.uploaded;
  }
  m_uploaded = up;
}

bool LabPublisher::has_published() const {
  std::lock_guard<std::mutex> g(m_mu);
  return !m_published.empty();
}

double LabPublisher::seconds_since_publish() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_last_publish).count();
}

std::string LabPublisher::render_metrics() {
  MetricSet m;
  {
    std::lock_guard<std::mutex> g(m_mu);
    m.add("lab_sync_generation", {}, static_cast<double>(m_generation));
    m.add("lab_sync_published_snapshots", {}, static_cast<double>(m_published.size()));
  }
  m.add("lab_sync_uploaded_bytes", {}, static_cast<double>(m_uploaded.load()));
  m.add("lab_sync_feed_requests_total", {}, static_cast<double>(m_feed_requests.load()));
  m.add("lab_sync_feed_refused_total", {}, static_cast<double>(m_refused.load()));
  return MetricFormat::prometheus(m);
}

HttpReply LabPublisher::answer(const HttpRequest& req) {
  if (req.path == "/metrics")
    return MetricsHttpServer::answer(req, [this] { return render_metrics(); });
  if (req.method != "GET") {
    HttpReply r = HttpReply::text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  if (!req.again) ++m_feed_requests;
  std::string nonce;
  if (!m_secret.check_authorization(req.method, req.target, req.authorization, &nonce)) {
    ++m_refused;
    HttpReply r = HttpReply::text(req.authorization.empty() ? 401 : 403,
                                  "this feed needs the lab's shared secret\n");
    if (req.authorization.empty()) r.headers.emplace_back("WWW-Authenticate", "DFS-HMAC");
    return r;
  }
  HttpReply r;
  {
    std::lock_guard<std::mutex> g(m_mu);
    if (req.path == "/feed") {
      r.content_type = "application/json";
      r.body = feed_locked().to_json();
      // /feed?after=N: a long poll, answered once a generation above N is
      // published (or after kLongPoll).
      const uint64_t after = query_number(req.target, "after");
      if (after > 0 && (m_published.empty() || m_published.back().entry.generation <= after)) {
        r.ready = [this, after] {
          std::lock_guard<std::mutex> g2(m_mu);
          return !m_published.empty() && m_published.back().entry.generation > after;
        };
        r.max_wait = kLongPoll;
      }
    } else {
      r = HttpReply::text(404, "not found\n");
      for (const auto& p : m_published) {
        if (req.path == LabFeed::torrent_path(p.entry.generation)) {
          r = HttpReply{};
          r.content_type = "application/x-bittorrent";
          r.body = p.torrent_bytes;
        }
      }
    }
  }
  r.headers.emplace_back(FeedSecret::kSignatureHeader,
                         m_secret.mac(FeedSecret::reply_message(nonce, r.body)));
  return r;
}

void LabPublisher::stop() {
  m_http.stop();
  std::lock_guard<std::mutex> g(m_mu);
  for (auto& p : m_published)
    if (p.session) (void)p.session->finish();
}

}  // namespace dynamicfs

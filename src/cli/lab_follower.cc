// LabFollower: poll, fetch into the spare slot, verify, switch, remount,
// serve; every step leaves follow.json describing a usable volume.
#include "src/cli/lab_follower.h"

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "src/cli/progress_json.h"
#include "src/cli/target_guard.h"
#include "src/common/clock.h"
#include "src/common/file_sync.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"
#include "src/control/metric_set.h"
#include "src/control/metrics_http_server.h"
#include "src/extent/volume_config.h"
#include "src/replication/piece_reuse.h"
#include "src/replication/volume_image.h"

namespace dynamicfs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Runs this binary with ARGS (mount, umount) and returns its exit status.
int run_self(const std::vector<std::string>& args) {
  pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    // The mount daemon must not keep this process's sockets (the metrics
    // listener, libtorrent's) open for the life of the mount.
    ::close_range(3, ~0U, 0);
    std::vector<char*> argv;
    std::string self = "dynamicfs";
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string torrent_file(const std::string& dir, uint64_t generation) {
  return dir + "/torrents/" + std::to_string(generation) + ".torrent";
}

std::string peer_of(const HttpUrl& feed, int port) {
  HttpUrl u = feed;
  u.port = port;
  return u.host_port();
}

json slot_summary(const FollowState& s, const std::string& name) {
  const FollowSlot& x = s.slot(name);
  return {{"slot", name},
          {"generation", x.generation},
          {"snapshot", x.snapshot},
          {"complete", x.complete}};
}

// Whether the volume in SLOT_DIR has the disks SPEC's image has (a slot
// without volume.toml has none).
bool same_disks(const std::string& slot_dir, const VolumeImageSpec& spec) {
  auto cfg = VolumeConfig::load(slot_dir);
  return cfg.is_ok() && cfg->disks.size() == spec.disks.size() &&
         uuid_to_string(cfg->volume_uuid) == uuid_to_string(spec.volume_uuid);
}

// EBUSY when a process holds a disk of the volume in SLOT_DIR (a daemon
// of a mount detached while files were open on it).
Status slot_not_in_use(const std::string& slot_dir) {
  auto cfg = VolumeConfig::load(slot_dir);
  if (!cfg.is_ok()) return Status::ok();
  for (const auto& d : cfg->disks) {
    if (d.removed) continue;
    auto disk = Disk::open_read_only(d.path);
    if (!disk.is_ok()) continue;
    if (!disk.value()->hold_exclusive().is_ok())
      return Status::error(EBUSY, slot_dir +
                                      " (the spare slot) is still in use (a mount "
                                      "detached while files were open on it?); waiting");
  }
  return Status::ok();
}

// The region files of a complete slot for an image of SPEC: its disks (as
// its volume.toml names them) and the metadata pack it was fetched with.
Result<std::map<uint32_t, std::string>> slot_regions(const std::string& slot_dir,
                                                     const VolumeImageSpec& spec) {
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(slot_dir));
  std::map<uint32_t, std::string> regions;
  for (const auto& d : spec.disks) {
    if (d.removed) continue;
    if (d.index >= cfg.disks.size())
      return Status::error(EXDEV, slot_dir + " has no disk " + std::to_string(d.index));
    regions[d.index] = cfg.disks[d.index].path;
  }
  regions[VolumeImage::kMetaRegion] = slot_dir + "/.incoming/meta.pack";
  return regions;
}

}  // namespace

LabFollower::LabFollower(const FollowOptions& o, FollowSlots slots, FeedSecret secret, HttpUrl feed,
                         FollowSignals* signals)
    : m_opts(o),
      m_slots(std::move(slots)),
      m_secret(std::move(secret)),
      m_feed(std::move(feed)),
      m_signals(signals) {
  if (m_feed.path == "/") m_feed.path = "/feed";
  m_feed_url = "http://" + m_feed.host_port() + m_feed.path;
}

LabFollower::~LabFollower() {
  stop_seeding();
  if (m_metrics) m_metrics->stop();
}

Result<std::string> LabFollower::get_signed(const std::string& path, size_t max_bytes,
                                            std::chrono::seconds timeout) {
  std::string nonce;
  const std::string auth = m_secret.authorization("GET", path, &nonce);
  // While waiting (a long poll): keep serving, keep the status fresh, and
  // give up at once when told to stop, reload or look again.
  auto last_status = std::chrono::steady_clock::now();
  auto keep_going = [this, &last_status] {
    if (m_seed) (void)m_seed->progress();
    if (std::chrono::steady_clock::now() - last_status >= std::chrono::seconds(1)) {
      last_status = std::chrono::steady_clock::now();
      write_status();
    }
    return !m_signals->stop && !m_signals->reload && !m_signals->poll;
  };
  DFS_ASSIGN_OR_RETURN(HttpResponse r, HttpClient::get(m_feed, path, {{"Authorization", auth}},
                                                       timeout, max_bytes, keep_going));
  const std::string where = "http://" + m_feed.host_port() + path;
  if (r.status == 401 || r.status == 403) {
    return Status::error(EACCES, where + " refused this follower's secret (HTTP " +
                                     std::to_string(r.status) + "); check --secret");
  }
  if (r.status != 200)
    return Status::error(EPROTO, where + " answered HTTP " + std::to_string(r.status));
  auto sig = r.headers.find("x-dynamicfs-signature");
  if (sig == r.headers.end() ||
      !m_secret.verify(FeedSecret::reply_message(nonce, r.body), sig->second)) {
    return Status::error(EBADMSG, where +
                                      ": the answer is not signed with this follower's secret "
                                      "(a forged feed, or another lab's); nothing was changed");
  }
  return r.body;
}

Result<LabFeed> LabFollower::read_feed(uint64_t after) {
  // With AFTER the publisher holds the answer until a newer generation is
  // published (or kLongPoll passed): a switch starts as soon as it can.
  const std::string path =
      after == 0 ? m_feed.path : m_feed.path + "?after=" + std::to_string(after);
  DFS_ASSIGN_OR_RETURN(std::string body,
                       get_signed(path, LabFeed::kMaxBytes,
                                  std::chrono::seconds(after == 0 ? 15 : 15 + kLongPollSeconds)));
  DFS_ASSIGN_OR_RETURN(LabFeed feed, LabFeed::from_json(body));
  const std::string& mine = m_slots.state().volume_uuid;
  if (!mine.empty() && feed.volume_uuid != mine) {
    return Status::error(EXDEV, "the feed publishes volume " + feed.volume_uuid + ", but " +
                                    m_slots.dir() + " follows volume " + mine +
                                    "; nothing was changed");
  }
  return feed;
}

Status LabFollower::apply(const LabFeed& feed, const LabFeedEntry& entry) {
  const auto started = std::chrono::steady_clock::now();
  const uint64_t gen = entry.generation;
  DFS_ASSIGN_OR_RETURN(
      std::string bytes,
      get_signed(LabFeed::torrent_path(gen), LabFeed::kMaxTorrentBytes, std::chrono::seconds(60)));
  if (FeedSecret::sha256_hex(bytes) != entry.torrent_sha256)
    return Status::error(EBADMSG, "the torrent of generation " + std::to_string(gen) +
                                      " does not match the feed's hash; nothing was changed");
  std::error_code ec;
  fs::create_directories(m_slots.dir() + "/torrents", ec);
  const std::string file = torrent_file(m_slots.dir(), gen);
  DFS_RETURN_IF_ERROR(write_file_atomically(file, bytes));
  DFS_ASSIGN_OR_RETURN(auto ti, ReplicationSession::load_torrent(file));
  auto spec = VolumeImageSpec::from_json(ImageTorrent::recorded_volume_spec(file));
  if (!spec.is_ok())
    return Status::error(EBADMSG,
                         "generation " + std::to_string(gen) +
                             " is not a volume snapshot image: " + spec.status().message());
  if (uuid_to_string(spec->volume_uuid) != feed.volume_uuid || spec->snapshot != entry.snapshot)
    return Status::error(EBADMSG, "the torrent of generation " + std::to_string(gen) +
                                      " is not of the volume and snapshot the feed names");
  // Planned on the state as it is now; begin_fetch refuses (EAGAIN) if a
  // rollback changes the current slot before it starts.
  DFS_RETURN_IF_ERROR(m_slots.reload());
  const FollowState& state = m_slots.state();
  const std::string cur_name = state.current;
  const std::string spare_name = cur_name.empty() ? "a" : FollowSlots::other(cur_name);
  // The spare slot must be nobody's mount: an operator inspecting it, or an
  // old mount detached while files were open, whose daemon still runs.
  const std::string spare = m_slots.slot_dir(spare_name);
  if (std::string mp = TargetGuard::mountpoint_of(spare); !mp.empty())
    return Status::error(EBUSY, spare + " (the spare slot) is mounted at " + mp +
                                    "; unmount it to receive generation " + std::to_string(gen));
  DFS_RETURN_IF_ERROR(slot_not_in_use(spare));
  // What the slots hold intact (their torrents say what) decides how little
  // is copied and checked: see PieceReuse. A slot laid out differently (the
  // master added or removed a disk) is no help.
  const bool current_fits = !cur_name.empty() && same_disks(m_slots.current_dir(), *spec);
  const bool spare_fits = same_disks(spare, *spec);
  auto intact = [&](const std::string& name, bool fits) -> std::shared_ptr<const lt::torrent_info> {
    const FollowSlot& x = state.slot(name);
    if (!x.complete || !x.pristine || !fits) return nullptr;
    auto t = ReplicationSession::load_torrent(torrent_file(m_slots.dir(), x.generation));
    return t.is_ok() ? t.value() : nullptr;
  };
  auto in_current = current_fits ? intact(cur_name, true) : nullptr;
  auto in_spare = intact(spare_name, spare_fits);
  FollowSlots::Fill fill = FollowSlots::Fill::kKeep;
  if (in_current == nullptr && in_spare == nullptr) {
    fill = current_fits ? FollowSlots::Fill::kRefill : FollowSlots::Fill::kClear;
  } else if (in_spare == nullptr && !spare_fits) {
    fill = FollowSlots::Fill::kClear;  // its volume.toml would be refused
  }
  const bool reuse = fill == FollowSlots::Fill::kKeep ||
                     (fill == FollowSlots::Fill::kClear && in_current != nullptr);
  bool resumed = false;
  DFS_ASSIGN_OR_RETURN(std::string slot, m_slots.begin_fetch(gen, entry.snapshot, feed.volume_uuid,
                                                             cur_name, fill, &resumed));
  const std::string slot_dir = m_slots.slot_dir(slot);
  event({{"event", "fetching"},
         {"generation", gen},
         {"snapshot", entry.snapshot},
         {"slot", slot},
         {"resumed", resumed},
         {"image_bytes", entry.image_bytes}});
  bool fresh = false;
  std::vector<std::unique_ptr<Disk>> holds;
  DFS_ASSIGN_OR_RETURN(auto regions, VolumeImage::prepare_target(slot_dir, *spec, &fresh, &holds));
  std::vector<bool> have;
  if (reuse && !resumed) {
    DFS_ASSIGN_OR_RETURN(ReusePlan plan, PieceReuse::plan(*ti, in_spare.get(), in_current.get()));
    std::map<uint32_t, std::string> from;
    if (in_current) {
      DFS_ASSIGN_OR_RETURN(from, slot_regions(m_slots.current_dir(), *spec));
    }
    DFS_RETURN_IF_ERROR(PieceReuse::verify_rest(*ti, regions, from, &plan));
    if (plan.copy_bytes > 0) DFS_RETURN_IF_ERROR(PieceReuse::copy(plan, from, regions));
    event({{"event", "reused"},
           {"generation", gen},
           {"pieces_in_slot", plan.pieces_in_spare},
           {"pieces_copied", plan.pieces_copied},
           {"pieces_to_fetch", plan.pieces_missing},
           {"pieces_hashed", plan.pieces_hashed},
           {"copied_bytes", plan.copy_bytes}});
    have = std::move(plan.have);
  }
  ReplicationOptions ro;
  ro.have_pieces = std::move(have);
  ro.torrent_file = file;
  ro.device = slot_dir;
  ro.listen = m_opts.listen;
  ro.peers = {peer_of(m_feed, entry.peer_port)};
  ro.local_discovery = !m_opts.no_lsd;
  ro.rate_limit = ReplicationOptions::rate_from_mb(m_opts.max_rate_mb);
  ro.regions = regions;
  auto session = std::make_unique<ReplicationSession>(ro);
  DFS_RETURN_IF_ERROR(session->start(ti, fresh));
  ReplicationProgress p;
  auto last_report = std::chrono::steady_clock::now();
  auto last_gain = last_report;
  uint64_t last_bytes = 0;
  while (!m_signals->stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    p = session->progress();
    {
      std::lock_guard<std::mutex> g(m_mu);
      m_state = "fetching";
      m_fetch = progress_json(p, 0);
      m_fetch.erase("time");  // events carry the wall-clock time instead
      m_fetch["generation"] = gen;
      m_fetch["snapshot"] = entry.snapshot;
      m_fetch["slot"] = slot;
      m_fetch["resumed"] = resumed;
    }
    if (!p.error.empty() || p.finished) break;
    // Nothing arrived for a while: is this generation still published? (A
    // master keeps --keep generations; one pruned meanwhile has no source.)
    if (p.bytes_done != last_bytes) {
      last_bytes = p.bytes_done;
      last_gain = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_gain >= std::chrono::seconds(20)) {
      last_gain = std::chrono::steady_clock::now();
      auto now_feed = read_feed(0);
      if (now_feed.is_ok() && now_feed->find(gen) == nullptr) {
        (void)session->finish();
        return Status::error(EAGAIN, "generation " + std::to_string(gen) +
                                         " is no longer published; moving on to the newest");
      }
    }
    if (std::chrono::steady_clock::now() - last_report >= std::chrono::seconds(1)) {
      last_report = std::chrono::steady_clock::now();
      write_status();
      json line;
      {
        std::lock_guard<std::mutex> g(m_mu);
        line = m_fetch;
      }
      line["event"] = "progress";
      event(line);
    }
  }
  if (!p.error.empty() || !p.finished) {
    (void)session->finish();
    if (!p.error.empty())
      return Status::error(EIO, "fetching generation " + std::to_string(gen) + ": " + p.error);
    return Status::error(EINTR, "stopped with " + std::to_string(p.pieces_done) + " of " +
                                    std::to_string(p.pieces_total) +
                                    " pieces verified; it resumes when the follower restarts");
  }
  event({{"event", "verified"},
         {"generation", gen},
         {"downloaded", p.downloaded},
         {"from_peers", p.swarm.from_peers}});
  // Durable first, then switched; the session goes on serving the others
  // meanwhile (stopping it would leave them without the pieces only this
  // follower has yet).
  DFS_RETURN_IF_ERROR(session->flush());
  DFS_RETURN_IF_ERROR(VolumeImage::finish_target(slot_dir, *spec));
  holds.clear();
  DFS_RETURN_IF_ERROR(m_slots.finish_fetch(slot));
  m_seed = std::move(session);
  m_seed_generation = gen;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard<std::mutex> g(m_mu);
    m_received_bytes += p.downloaded;
    ++m_switches;
    m_last_switch_unix = unix_seconds();
    m_fetch = nullptr;
    m_state = "idle";
  }
  event({{"event", "switched"},
         {"generation", gen},
         {"snapshot", entry.snapshot},
         {"slot", slot},
         {"resumed", resumed},
         {"downloaded", p.downloaded},
         {"from_seed", p.swarm.from_source},
         {"from_peers", p.swarm.from_peers},
         {"image_bytes", entry.image_bytes},
         {"seconds", seconds},
         {"unix_time", unix_seconds()}});
  // Torrents of generations neither slot holds are not needed any more.
  for (const auto& f : fs::directory_iterator(m_slots.dir() + "/torrents", ec)) {
    const std::string name = f.path().filename().string();
    if (name != std::to_string(m_slots.state().a.generation) + ".torrent" &&
        name != std::to_string(m_slots.state().b.generation) + ".torrent")
      fs::remove(f.path(), ec);
  }
  return mount_current();
}

Status LabFollower::mount_current() {
  if (m_opts.mount.empty()) return Status::ok();
  DFS_RETURN_IF_ERROR(m_slots.reload());  // `want` from the state as it is now
  if (m_slots.state().current.empty()) return Status::ok();
  const std::string want = m_slots.current_dir();
  std::error_code ec;
  auto mounted = ControlClient::find_mount(m_opts.mount);
  if (mounted.is_ok()) {
    if (fs::equivalent(mounted->volume_dir, want, ec)) return Status::ok();
    if (run_self({"umount", m_opts.mount}) != 0) {
      // Files are open on the old snapshot: detach it; its daemon exits when
      // the last one closes (and its slot is refilled only after that).
      if (::umount2(m_opts.mount.c_str(), MNT_DETACH) != 0)
        return Status::from_errno("cannot unmount " + m_opts.mount);
      event({{"event", "detached"}, {"mountpoint", m_opts.mount}});
    }
  }
  std::vector<std::string> args = {"mount", "--volume", want, m_opts.mount};
  if (m_opts.mode == "kiosk") {
    // Read-only, and freed space (orphans dropped at mount) keeps its bytes:
    // what the image's pieces cover stays as fetched (the slot stays pristine).
    args.emplace_back("-o");
    args.emplace_back("ro,discard=off");
  } else {
    // Local writes may reuse space the image's pieces cover: from now on
    // its torrent no longer tells what it holds (and it is not served).
    DFS_RETURN_IF_ERROR(m_slots.mark_written(m_slots.state().current));
  }
  if (run_self(args) != 0)
    return Status::error(EIO, "cannot mount " + want + " on " + m_opts.mount + " (see above)");
  event({{"event", "mounted"},
         {"mountpoint", m_opts.mount},
         {"slot", m_slots.state().current},
         {"generation", m_slots.state().slot(m_slots.state().current).generation}});
  return Status::ok();
}

void LabFollower::seed_current(const LabFeed& feed) {
  const FollowState& s = m_slots.state();
  const LabFeedEntry* latest = feed.latest();
  if (s.current.empty() || latest == nullptr) return;
  const uint64_t gen = s.current_generation();
  if (gen != latest->generation || !s.slot(s.current).pristine) return stop_seeding();
  if (m_seed && m_seed_generation == gen) return;
  stop_seeding();
  const std::string file = torrent_file(m_slots.dir(), gen);
  auto ti = ReplicationSession::load_torrent(file);
  auto spec = VolumeImageSpec::from_json(ImageTorrent::recorded_volume_spec(file));
  auto regions = spec.is_ok() ? slot_regions(m_slots.current_dir(), spec.value())
                              : Result<std::map<uint32_t, std::string>>(spec.status());
  if (!ti.is_ok() || !regions.is_ok()) return;
  ReplicationOptions ro;
  ro.torrent_file = file;
  ro.device = m_slots.current_dir();
  ro.seed = true;
  ro.initial_seeding = false;  // the master spreads first copies; this only helps
  ro.listen = m_opts.listen;
  ro.local_discovery = !m_opts.no_lsd;
  ro.regions = std::move(regions).value();
  auto seed = std::make_unique<ReplicationSession>(ro);
  Status st = seed->start(ti.value(), false);
  if (!st.is_ok()) {
    event({{"event", "error"},
           {"message", "cannot serve generation " + std::to_string(gen) + ": " + st.message()}});
    return;
  }
  m_seed = std::move(seed);
  m_seed_generation = gen;
}

void LabFollower::stop_seeding() {
  if (!m_seed) return;
  (void)m_seed->finish();
  m_seed.reset();
  m_seed_generation = 0;
}

void LabFollower::event(json j) {
  if (!m_opts.json) return;
  if (!j.contains("time")) j["time"] = unix_seconds();
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

void LabFollower::write_status() {
  const FollowState& s = m_slots.state();
  json j;
  {
    std::lock_guard<std::mutex> g(m_mu);
    m_current_generation = s.current_generation();
    j = {{"state", m_state},
         {"feed", m_feed_url},
         {"pid", ::getpid()},
         {"mode", m_opts.mode},
         {"mountpoint", m_opts.mount},
         {"volume_uuid", s.volume_uuid},
         {"latest_published", m_latest_published},
         {"fetch", m_fetch},
         {"last_error", m_last_error},
         {"received_bytes", m_received_bytes},
         {"switches", m_switches},
         {"errors", m_errors},
         {"last_switch_unix", m_last_switch_unix},
         {"serving", m_seed_generation},
         {"skip_through", s.skip_through},
         {"updated_unix", unix_seconds()}};
  }
  j["current"] = s.current.empty() ? json(nullptr) : slot_summary(s, s.current);
  j["previous"] =
      s.current.empty() ? json(nullptr) : slot_summary(s, FollowSlots::other(s.current));
  (void)write_file_atomically(m_slots.dir() + "/status.json", j.dump() + "\n", 0644,
                              /*durable=*/false);
}

void LabFollower::wait_poll_interval() {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(m_opts.poll);
  int tick = 0;
  while (!m_signals->stop && !m_signals->poll && !m_signals->reload &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (m_seed) (void)m_seed->progress();
    if (++tick % 10 == 0) write_status();
  }
  m_signals->poll = 0;
}

void LabFollower::handle_reload() {
  m_signals->reload = 0;
  Status st = m_slots.reload();
  if (st.is_ok()) st = mount_current();
  stop_seeding();
  if (!st.is_ok()) {
    std::lock_guard<std::mutex> g(m_mu);
    m_last_error = st.message();
  }
  event({{"event", "reloaded"},
         {"slot", m_slots.state().current},
         {"skip_through", m_slots.state().skip_through}});
  write_status();
}

std::string LabFollower::render_metrics() {
  MetricSet m;
  std::lock_guard<std::mutex> g(m_mu);
  m.add("lab_sync_generation", {}, static_cast<double>(m_current_generation));
  m.add("lab_sync_latest_published", {}, static_cast<double>(m_latest_published));
  m.add("lab_sync_fetch_progress", {}, m_fetch.is_null() ? 0.0 : m_fetch.value("progress", 0.0));
  m.add("lab_sync_received_bytes_total", {}, static_cast<double>(m_received_bytes));
  m.add("lab_sync_switches_total", {}, static_cast<double>(m_switches));
  m.add("lab_sync_errors_total", {}, static_cast<double>(m_errors));
  return MetricFormat::prometheus(m);
}

int LabFollower::run() {
  if (!m_opts.metrics_listen.empty()) {
    m_metrics = std::make_unique<HttpServer>([this](const HttpRequest& r) {
      return MetricsHttpServer::answer(r, [this] { return render_metrics(); });
    });
    Status st = m_metrics->start(m_opts.metrics_listen, "--metrics-listen");
    if (!st.is_ok()) return fail(st.message());
  }
  event({{"event", "started"},
         {"volume", m_slots.dir()},
         {"metrics_endpoint", m_metrics ? m_metrics->endpoint() : ""}});
  if (Status st = mount_current(); !st.is_ok()) return fail(st.message());
  if (Status st = m_slots.repair_current_link(); !st.is_ok()) return fail(st.message());
  while (!m_signals->stop) {
    if (m_signals->reload) handle_reload();
    m_signals->poll = 0;
    // Kept on the current slot, also after a failed remount.
    if (Status mounted = mount_current(); !mounted.is_ok()) {
      std::lock_guard<std::mutex> g(m_mu);
      m_last_error = mounted.message();
    }
    const FollowState& known = m_slots.state();
    const uint64_t have_now = std::max(known.current_generation(), known.skip_through);
    const auto asked = std::chrono::steady_clock::now();
    auto feed = read_feed(m_opts.once ? 0 : have_now);
    if (feed.status().err() == ECANCELED) continue;  // a signal: handled above
    Status st = feed.status();
    // The feed followed is recorded once it proved itself (signed, same volume).
    if (feed.is_ok() && m_slots.state().feed != m_feed_url) st = m_slots.set_feed(m_feed_url);
    if (feed.is_ok() && st.is_ok()) {
      const LabFeedEntry* latest = feed->latest();
      const FollowState& s = m_slots.state();
      const uint64_t have = s.current_generation();
      {
        std::lock_guard<std::mutex> g(m_mu);
        m_latest_published = latest ? latest->generation : 0;
      }
      if (latest != nullptr && latest->generation > std::max(have, s.skip_through)) {
        stop_seeding();
        st = apply(feed.value(), *latest);
        if (st.err() == EINTR) break;
        if (st.err() == EAGAIN) continue;  // the state moved under the plan: plan again
      }
      if (st.is_ok()) {
        seed_current(feed.value());
        std::lock_guard<std::mutex> g(m_mu);
        m_state = "idle";
        m_last_error.clear();
      }
    }
    if (!st.is_ok()) {
      {
        std::lock_guard<std::mutex> g(m_mu);
        m_state = "error";
        m_last_error = st.message();
        m_fetch = nullptr;
        ++m_errors;
      }
      event({{"event", "error"}, {"errno", st.err()}, {"message", st.message()}});
      std::fprintf(stderr, "dynamicfs: follow: %s\n", st.message().c_str());
    }
    write_status();
    if (m_opts.once) return st.is_ok() ? 0 : 1;
    // After an error, or an answer that did not wait (a publisher without
    // long polls), the next look is --poll seconds away.
    if (!st.is_ok() || std::chrono::steady_clock::now() - asked < std::chrono::seconds(1))
      wait_poll_interval();
  }
  {
    std::lock_guard<std::mutex> g(m_mu);
    m_state = "stopped";
  }
  write_status();
  return 0;
}

}  // namespace dynamicfs

// ReplicationSession: session settings, the torrent, alerts and progress.
#include "src/replication/replication_session.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_status.hpp>
#include <random>
#include <thread>

#include "src/common/host_port.h"
#include "src/io/disk.h"
#include "src/replication/image_layout.h"
#include "src/replication/plugin_factory.h"

namespace dynamicfs {

namespace {

// "ADDR:0" becomes ADDR and one free port: libtorrent would give every
// interface of 0.0.0.0 its own random port, and peers need to know one.
Result<std::string> resolve_listen(const std::string& spec) {
  DFS_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(spec, "--listen"));
  if (hp.port != 0) return spec;
  DFS_ASSIGN_OR_RETURN(auto ep, hp.endpoint());
  boost::asio::io_context io;
  lt::error_code ec;
  boost::asio::ip::tcp::acceptor a(io);
  a.open(ep.protocol(), ec);
  if (!ec) a.bind(ep, ec);
  if (ec) return Status::error(ec.value(), "--listen " + spec + ": " + ec.message());
  return spec.substr(0, spec.rfind(':')) + ":" + std::to_string(a.local_endpoint().port());
}

// The whole 20-byte peer id, fixed for the session. Its prefix tells
// receivers the image's source from other receivers (SwarmTally). Fixed,
// because libtorrent 2.0 otherwise draws a new random id per connection, and
// when two receivers dial each other at the same moment (peer exchange and
// local service discovery both tell them of each other) each side then
// keeps a different one of the two connections, which drops both; a stable
// id makes both sides keep the same one.
std::string session_peer_id(bool seed) {
  static constexpr char kChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id = seed ? kSeedFingerprint : kFetchFingerprint;
  std::random_device rd;
  std::uniform_int_distribution<size_t> pick(0, sizeof(kChars) - 2);
  while (id.size() < 20) id.push_back(kChars[pick(rd)]);
  return id;
}

}  // namespace

Result<std::shared_ptr<const lt::torrent_info>> ReplicationSession::load_torrent(
    const std::string& path) {
  lt::error_code ec;
  auto ti = std::make_shared<lt::torrent_info>(path, ec);
  if (ec) return Status::error(EINVAL, "cannot load torrent " + path + ": " + ec.message());
  auto layout = ImageLayout::from_files(ti->files());
  if (!layout.is_ok())
    return Status::error(EINVAL,
                         path + " is not a disk-image torrent: " + layout.status().message());
  return std::shared_ptr<const lt::torrent_info>(std::move(ti));
}

ReplicationSession::ReplicationSession(ReplicationOptions o) : m_opts(std::move(o)) {}

ReplicationSession::~ReplicationSession() {
  m_session.reset();
}

Status ReplicationSession::prepare() {
  m_peer_endpoints.clear();
  for (const auto& p : m_opts.peers) {
    DFS_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(p, "--peer"));
    if (hp.port == 0) return Status::error(EINVAL, "--peer '" + p + "': invalid port '0'");
    DFS_ASSIGN_OR_RETURN(auto ep, hp.endpoint());
    m_peer_endpoints.push_back(ep);
  }
  DFS_ASSIGN_OR_RETURN(m_listen, resolve_listen(m_opts.listen));
  return Status::ok();
}

Status ReplicationSession::start(std::shared_ptr<const lt::torrent_info> ti, bool fresh_target) {
  if (m_listen.empty()) DFS_RETURN_IF_ERROR(prepare());
  lt::settings_pack sp;
  sp.set_str(lt::settings_pack::listen_interfaces, m_listen);
  sp.set_str(lt::settings_pack::user_agent, "dynamicfs/0.1");
  sp.set_str(lt::settings_pack::peer_fingerprint, session_peer_id(m_opts.seed));
  sp.set_bool(lt::settings_pack::enable_dht, false);
  sp.set_bool(lt::settings_pack::enable_lsd, m_opts.local_discovery);
  sp.set_bool(lt::settings_pack::enable_upnp, false);
  sp.set_bool(lt::settings_pack::enable_natpmp, false);
  // TCP only: on a LAN uTP's congestion control only costs throughput.
  sp.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  sp.set_bool(lt::settings_pack::enable_incoming_utp, false);
  sp.set_int(lt::settings_pack::alert_mask,
             static_cast<int>(lt::alert_category::error | lt::alert_category::status |
                              lt::alert_category::storage));
  sp.set_int(lt::settings_pack::aio_threads, m_opts.io_threads);
  sp.set_int(lt::settings_pack::hashing_threads, m_opts.hash_threads);
  sp.set_int(lt::settings_pack::max_queued_disk_bytes, 64 << 20);
  // Many receivers behind one address (NAT, tests) and no upload slots to
  // wait for: every peer of the lab is served at once.
  sp.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
  sp.set_int(lt::settings_pack::unchoke_slots_limit, -1);
  // Small send buffers: a seed's DONT_HAVE and SUGGEST messages (see
  // InitialSeeding) queue behind the data already buffered for a peer; with
  // 8 MiB a receiver on a shared 400 Mbit/s link heard of a hidden piece
  // a second late and asked for it meanwhile (tens of thousands of refused
  // requests per run). 1 MiB still covers a LAN's bandwidth-delay product.
  sp.set_int(lt::settings_pack::send_buffer_watermark, 1 << 20);
  sp.set_int(lt::settings_pack::send_buffer_low_watermark, 256 << 10);
  sp.set_int(lt::settings_pack::send_socket_buffer_size, 1 << 20);
  // Two receivers that dial each other at the same moment may lose both
  // connections; on a LAN redialling after a second costs nothing, where
  // libtorrent's default waits a minute.
  sp.set_int(lt::settings_pack::min_reconnect_time, 1);
  sp.set_int(lt::settings_pack::max_out_request_queue, 1500);
  sp.set_int(lt::settings_pack::max_allowed_in_request_queue, 2000);
  // A seed's suggestions (InitialSeeding) are kept, not cut to libtorrent's 16.
  sp.set_int(lt::settings_pack::max_suggest_pieces, 4 * InitialSeeding::kWindow);
  sp.set_int(lt::settings_pack::active_downloads, -1);
  sp.set_int(lt::settings_pack::active_seeds, -1);
  sp.set_int(lt::settings_pack::active_limit, -1);
  sp.set_bool(lt::settings_pack::close_redundant_connections, false);
  if (m_opts.rate_limit > 0) {
    sp.set_int(
        m_opts.seed ? lt::settings_pack::upload_rate_limit : lt::settings_pack::download_rate_limit,
        m_opts.rate_limit);
  }
  lt::session_params params(std::move(sp));
  RawDiskOptions ro;
  ro.writable = !m_opts.seed;
  // A fresh target holds nothing; one with known pieces needs no check.
  ro.fresh_target = fresh_target || (!m_opts.seed && !m_opts.have_pieces.empty());
  ro.write_errors = m_write_errors;
  if (!m_opts.regions.empty()) ro.open_target = ImageTarget::regions_opener(m_opts.regions);
  params.disk_io_constructor = RawDiskIo::constructor(ro, m_disk_io);
  try {
    m_session = std::make_unique<lt::session>(std::move(params));
  } catch (const std::exception& e) {
    return Status::error(EIO, std::string("cannot start the BitTorrent session: ") + e.what());
  }
  if (m_opts.rate_limit > 0) {
    // libtorrent exempts LAN peers from rate limits (they are in the local
    // peer class); an operator's limit is meant for exactly those peers.
    lt::ip_filter classes;
    classes.add_rule(boost::asio::ip::make_address("0.0.0.0"),
                     boost::asio::ip::make_address("255.255.255.255"),
                     1u << static_cast<std::uint32_t>(lt::session::global_peer_class_id));
    classes.add_rule(boost::asio::ip::make_address("::"),
                     boost::asio::ip::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                     1u << static_cast<std::uint32_t>(lt::session::global_peer_class_id));
    m_session->set_peer_class_filter(classes);
  }
  lt::add_torrent_params atp;
  atp.ti = std::make_shared<lt::torrent_info>(*ti);
  // Only the peers we are told of (and LSD): a foreign torrent's trackers and
  // web seeds are never contacted.
  atp.ti->clear_trackers();
  atp.ti->set_web_seeds({});
  atp.trackers.clear();
  atp.url_seeds.clear();
  atp.save_path = m_opts.device;
  atp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  if (m_opts.seed) {
    // The source is the image: every piece is there. Receivers verify every
    // piece they get, so the seed does not hash pieces before serving them
    // (seed_mode would, on first request, and stall the first peers).
    atp.have_pieces.resize(ti->num_pieces(), true);
    if (m_opts.initial_seeding) {
      const int n = ti->num_pieces();
      m_initial_seeding = std::make_shared<InitialSeeding>(
          n, ti->piece_length(), n > 0 ? ti->piece_size(lt::piece_index_t(n - 1)) : 0,
          std::random_device{}());
      atp.extensions.push_back(plugin_factory(m_initial_seeding));
    }
  }
  if (!m_opts.seed && !m_opts.have_pieces.empty()) {
    atp.have_pieces.resize(ti->num_pieces(), false);
    for (int i = 0; i < ti->num_pieces() && i < static_cast<int>(m_opts.have_pieces.size()); ++i)
      if (m_opts.have_pieces[static_cast<size_t>(i)]) atp.have_pieces.set_bit(lt::piece_index_t(i));
  }
  atp.extensions.push_back(plugin_factory(std::make_shared<RequestNudge>()));
  lt::error_code ec;
  m_handle = m_session->add_torrent(std::move(atp), ec);
  if (ec) return Status::error(EINVAL, "cannot add the torrent: " + ec.message());
  connect_peers();
  return Status::ok();
}

void ReplicationSession::connect_peers() {
  for (const auto& ep : m_peer_endpoints) m_handle.connect_peer(ep);
  m_last_connect = std::chrono::steady_clock::now();
}

void ReplicationSession::drain_alerts() {
  std::vector<lt::alert*> alerts;
  m_session->pop_alerts(&alerts);
  for (lt::alert* a : alerts) {
    if (auto* fe = lt::alert_cast<lt::file_error_alert>(a)) {
      m_error = fe->message();
      spdlog::error("{}", m_error);
    } else if (auto* te = lt::alert_cast<lt::torrent_error_alert>(a)) {
      m_error = te->message();
      spdlog::error("{}", m_error);
    } else if (lt::alert_cast<lt::cache_flushed_alert>(a) != nullptr) {
      m_flushed = true;
    } else if (auto* le = lt::alert_cast<lt::listen_failed_alert>(a)) {
      m_error = le->message();
      spdlog::error("{}", m_error);
    } else if (a->category() & lt::alert_category::error) {
      spdlog::warn("{}", a->message());
    }
  }
}

ReplicationProgress ReplicationSession::progress() {
  ReplicationProgress p;
  drain_alerts();
  lt::torrent_status s = m_handle.status();
  // A peer that was not listening yet (or dropped us) is tried again soon,
  // instead of after libtorrent's reconnect back-off.
  if (s.num_peers < static_cast<int>(m_peer_endpoints.size()) && !s.is_seeding &&
      std::chrono::steady_clock::now() - m_last_connect > std::chrono::milliseconds(500)) {
    connect_peers();
  }
  using S = lt::torrent_status::state_t;
  switch (s.state) {
    case S::checking_files:
    case S::checking_resume_data:
      p.state = "checking";
      break;
    case S::downloading_metadata:
    case S::downloading:
      p.state = "downloading";
      break;
    case S::finished:
    case S::seeding:
      p.state = "seeding";
      break;
    default:
      p.state = "unknown";
  }
  if (s.errc) m_error = s.errc.message();
  p.error = m_error;
  if (!p.error.empty()) p.state = "error";
  p.bytes_total = static_cast<uint64_t>(s.total_wanted);
  p.bytes_done = static_cast<uint64_t>(s.total_wanted_done);
  p.downloaded = static_cast<uint64_t>(s.total_payload_download);
  p.uploaded = static_cast<uint64_t>(s.total_payload_upload);
  p.download_rate = s.download_payload_rate;
  p.upload_rate = s.upload_payload_rate;
  std::vector<lt::peer_info> peers;
  m_handle.get_peer_info(peers);
  m_swarm.update(peers, !s.is_seeding && !s.is_finished, std::chrono::steady_clock::now());
  p.swarm = m_swarm.counts();
  if (m_initial_seeding) p.initial = m_initial_seeding->counts();
  p.pieces_done = s.num_pieces;
  auto ti = s.torrent_file.lock();
  p.pieces_total = ti ? ti->num_pieces() : 0;
  p.finished = p.error.empty() && p.pieces_total > 0 && p.pieces_done == p.pieces_total &&
               (s.state == S::seeding || s.state == S::finished);
  return p;
}

Status ReplicationSession::finish() {
  if (!m_session) return Status::ok();
  m_handle.pause(lt::torrent_handle::graceful_pause);
  m_session.reset();  // the disk threads flush every queued write and exit
  *m_disk_io = nullptr;
  if (m_opts.seed) return Status::ok();
  return sync_target();
}

Status ReplicationSession::flush() {
  if (!m_session || m_opts.seed) return Status::ok();
  m_flushed = false;
  m_handle.flush_cache();  // RawDiskIo answers once the storage's writes drained
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!m_flushed && m_error.empty()) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::error(ETIMEDOUT, "the writes to " + m_opts.device + " did not drain");
    m_session->wait_for_alert(std::chrono::milliseconds(50));
    drain_alerts();
  }
  if (!m_error.empty()) return Status::error(EIO, m_error);
  return sync_target();
}

Status ReplicationSession::sync_target() {
  // A piece passes its hash from the store buffer, before its write lands:
  // a failed write means the target does not hold what was verified.
  if (uint64_t n = m_write_errors->load(); n > 0) {
    return Status::error(EIO, std::to_string(n) + " write(s) to " + m_opts.device +
                                  " failed (see above); the target is incomplete, fetch again");
  }
  auto disk = m_opts.regions.empty() ? ImageTarget::open_disk(m_opts.device, true)
                                     : ImageTarget::open_regions(m_opts.regions, true);
  Status synced = disk.is_ok() ? disk.value()->sync() : disk.status();
  if (!synced.is_ok())
    return Status::error(synced.err(),
                         "final sync of " + m_opts.device + " failed: " + synced.message());
  return Status::ok();
}

int ReplicationSession::listen_port() const {
  return m_session ? m_session->listen_port() : 0;
}

RawDiskStats ReplicationSession::disk_stats() const {
  RawDiskIo* io = *m_disk_io;
  return io != nullptr ? io->stats() : RawDiskStats{};
}

}  // namespace dynamicfs

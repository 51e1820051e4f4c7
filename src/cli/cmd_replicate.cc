// `dynamicfs replicate seed|fetch`: serve a disk image to the LAN, or fetch
// one onto a device or disk file, verifying every piece. A fetch onto a
// target that already holds part of the image (an interrupted fetch, an
// older copy) checks what is there and transfers only what differs.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "src/cli/commands.h"
#include "src/cli/progress_json.h"
#include "src/cli/progress_line.h"
#include "src/cli/target_guard.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"
#include "src/io/disk.h"
#include "src/replication/image_layout.h"
#include "src/replication/image_torrent.h"
#include "src/replication/replication_session.h"
#include "src/replication/volume_image.h"

namespace dynamicfs {

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

void show(const ReplicationProgress& p, double elapsed, bool json, ProgressLine& bar, bool seed) {
  if (json) {
    std::printf("%s\n", progress_json(p, elapsed).dump().c_str());
    std::fflush(stdout);
    return;
  }
  double fraction =
      p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
  std::string detail;
  const SwarmCounts& w = p.swarm;
  char buf[64];
  if (seed) {
    // Sent as a multiple of the image: near 1.0 while receivers relay well.
    std::snprintf(
        buf, sizeof buf, " (%.2fx the image)",
        p.bytes_total ? static_cast<double>(p.uploaded) / static_cast<double>(p.bytes_total) : 0.0);
    detail = "seeding  sent " + MetricFormat::bytes(static_cast<double>(p.uploaded)) + buf + "  " +
             ProgressLine::rate(p.upload_rate) + "  peers " + std::to_string(w.peers) + " (" +
             std::to_string(w.complete_peers) + " done)";
  } else {
    double remaining = static_cast<double>(p.bytes_total - std::min(p.bytes_total, p.bytes_done));
    uint64_t got = w.from_source + w.from_peers;
    std::snprintf(buf, sizeof buf, "%.0f%%",
                  got ? 100.0 * static_cast<double>(w.from_peers) / static_cast<double>(got) : 0.0);
    detail = p.state + "  " + MetricFormat::bytes(static_cast<double>(p.bytes_done)) + " of " +
             MetricFormat::bytes(static_cast<double>(p.bytes_total)) + "  " +
             ProgressLine::rate(p.download_rate) + "  peers " + std::to_string(w.peers) +
             "  from peers " + buf + "  ETA " +
             ProgressLine::eta(p.download_rate > 0 ? remaining / p.download_rate : -1);
  }
  bar.update(fraction, detail);
}

// Prepares the target: creates a missing file at the image's size; refuses
// a target too small for the image or mounted. Sets *fresh for a new file,
// which is created at create_size.
Status prepare_target(const std::string& target, uint64_t needed, uint64_t create_size,
                      bool* fresh) {
  *fresh = false;
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::from_errno("cannot stat target " + target);
    int fd = ::open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::from_errno("cannot create target " + target);
    int rc = ::ftruncate(fd, static_cast<off_t>(create_size));
    int err = errno;
    ::close(fd);
    if (rc != 0) {
      ::unlink(target.c_str());
      return Status::error(err, "cannot size target " + target);
    }
    *fresh = true;
    return Status::ok();
  }
  DFS_RETURN_IF_ERROR(TargetGuard::check_writable(target));
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(target));
  if (disk->size() < needed) {
    return Status::error(EFBIG, "target " + target + " has " + std::to_string(disk->size()) +
                                    " bytes but the image reaches byte " + std::to_string(needed) +
                                    "; nothing was written");
  }
  return Status::ok();
}

// The source or target of a volume snapshot image: regions of the live
// volume's disks (seed) or of the volume directory being made (fetch).
struct VolumeSide {
  VolumeImageSpec spec;
  std::unique_ptr<SnapshotHold> snapshot_hold;
  std::vector<std::unique_ptr<Disk>> disk_holds;
  std::map<uint32_t, std::string> regions;
};

Status prepare_volume(const ReplicateOptions& o, const std::string& volume_dir,
                      const std::string& spec_text, VolumeSide* v, bool* fresh) {
  DFS_ASSIGN_OR_RETURN(v->spec, VolumeImageSpec::from_json(spec_text));
  if (o.seed) {
    std::string volume = o.device;
    auto mount = ControlClient::find_mount(o.device);
    if (mount.is_ok()) volume = mount->volume_dir;
    DFS_ASSIGN_OR_RETURN(v->regions,
                         VolumeImage::source_regions(volume, v->spec, &v->snapshot_hold));
    return Status::ok();
  }
  if (o.volume.empty()) {
    return Status::error(EINVAL, o.torrent + " is the image of snapshot " + v->spec.snapshot +
                                     " of a volume: fetch it with --volume DIR");
  }
  if (std::string mp = TargetGuard::mountpoint_of(volume_dir); !mp.empty()) {
    return Status::error(EBUSY, "volume " + o.volume + " is mounted at " + mp +
                                    "; unmount it first. Nothing was written");
  }
  DFS_ASSIGN_OR_RETURN(v->regions,
                       VolumeImage::prepare_target(volume_dir, v->spec, fresh, &v->disk_holds));
  return Status::ok();
}

// User plus system CPU seconds this process has used.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

}  // namespace

int cmd_replicate(const ReplicateOptions& o) {
  auto ti = ReplicationSession::load_torrent(o.torrent);
  if (!ti.is_ok()) return fail(ti.status().message());
  auto layout = ImageLayout::from_files(ti.value()->files());
  if (!layout.is_ok()) return fail(layout.status().message());
  const std::string spec_text = ImageTorrent::recorded_volume_spec(o.torrent);
  const bool is_volume = !spec_text.empty();
  if (!is_volume && !o.seed && o.device.empty()) {
    return fail(o.volume.empty() ? "give --target DEVICE (or --volume DIR for a volume snapshot)"
                                 : o.torrent +
                                       " is the image of one disk, not of a volume "
                                       "snapshot: fetch it with --target DEVICE");
  }
  ReplicationOptions ro;
  ro.torrent_file = o.torrent;
  std::error_code abs_ec;
  const std::string volume_dir =
      o.volume.empty() ? ""
                       : std::filesystem::absolute(o.volume, abs_ec).lexically_normal().string();
  ro.device = is_volume && !o.seed ? volume_dir : o.device;
  ro.seed = o.seed;
  ro.listen = o.listen;
  ro.peers = o.peers;
  ro.local_discovery = !o.no_lsd;
  ro.rate_limit = ReplicationOptions::rate_from_mb(o.max_rate_mb);
  // Options are checked before the target is touched.
  ReplicationSession session(ro);
  Status prepared = session.prepare();
  if (!prepared.is_ok()) return fail(prepared.message());
  bool fresh_target = false;
  std::unique_ptr<Disk> target_hold;
  VolumeSide volume;
  if (is_volume) {
    Status st = prepare_volume(o, volume_dir, spec_text, &volume, &fresh_target);
    if (!st.is_ok()) return fail(st.message());
    session.set_regions(volume.regions);
  } else if (o.seed) {
    auto disk = Disk::open_read_only(o.device);
    if (!disk.is_ok()) return fail(disk.status().message());
    if (disk.value()->size() < layout->end_offset()) {
      return fail("source " + o.device + " has " + std::to_string(disk.value()->size()) +
                  " bytes but the image reaches byte " + std::to_string(layout->end_offset()));
    }
  } else {
    // A new target file gets the imaged disk's full size (a filesystem's
    // geometry reaches past its last used block); an existing one must hold
    // every range.
    uint64_t full = std::max(layout->end_offset(), ImageTorrent::recorded_disk_size(o.torrent));
    Status st = prepare_target(o.device, layout->end_offset(), full, &fresh_target);
    if (!st.is_ok()) return fail(st.message());
    // Held until the fetch ends: no second fetch or mount takes the target
    // meanwhile.
    auto held = TargetGuard::hold(o.device);
    if (!held.is_ok()) return fail(held.status().message());
    target_hold = std::move(held).value();
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Status st = session.start(ti.value(), fresh_target);
  if (!st.is_ok()) return fail(st.message());
  if (o.json) {
    std::printf(
        "%s\n",
        nlohmann::json{{"event", "listening"}, {"port", session.listen_port()}}.dump().c_str());
    std::fflush(stdout);
  } else {
    std::fprintf(stderr, "%s %s on port %d\n", o.seed ? "seeding" : "fetching", o.torrent.c_str(),
                 session.listen_port());
  }
  ProgressLine bar;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::optional<std::chrono::steady_clock::time_point> finished_at;
  ReplicationProgress p;
  int tick = 0;
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    p = session.progress();
    if (!p.error.empty()) break;
    if (!o.seed && p.finished && !finished_at) {
      finished_at = std::chrono::steady_clock::now();
      if (o.json) {
        nlohmann::json v = progress_json(p, elapsed());
        v["event"] = "verified";
        v["unix_time"] =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        std::printf("%s\n", v.dump().c_str());
        std::fflush(stdout);
      }
    }
    // A finished receiver serves the others while any of them still asks
    // it for pieces, for at most --seed-for seconds.
    if (finished_at &&
        (p.swarm.wanting_peers == 0 || std::chrono::steady_clock::now() - *finished_at >=
                                           std::chrono::duration<double>(o.seed_for))) {
      break;
    }
    if (++tick % 20 == 0) show(p, elapsed(), o.json, bar, o.seed);
  }
  bar.done();
  Status flushed = session.finish();
  nlohmann::json final_line = progress_json(p, elapsed());
  final_line["event"] = "done";
  bool ok = p.error.empty() && flushed.is_ok() && (o.seed || p.finished);
  final_line["ok"] = ok;
  // What receiving cost: hashing, copies, writes (and serving others).
  const double cpu = cpu_seconds();
  final_line["cpu_seconds"] = cpu;
  if (!o.seed && p.downloaded > 0)
    final_line["cpu_seconds_per_gib"] = cpu / (static_cast<double>(p.downloaded) / (1 << 30));
  if (!p.error.empty()) final_line["error"] = p.error;
  if (o.json) std::printf("%s\n", final_line.dump().c_str());
  if (!p.error.empty()) return fail(p.error);
  if (!flushed.is_ok()) return fail(flushed.message());
  if (o.seed) return 0;
  if (!p.finished) {
    return fail("interrupted with " + std::to_string(p.pieces_done) + " of " +
                std::to_string(p.pieces_total) +
                " pieces verified; run the same fetch again to resume");
  }
  if (is_volume) {
    Status done = VolumeImage::finish_target(volume_dir, volume.spec);
    if (!done.is_ok()) return fail("fetched every piece, but " + done.message());
  }
  if (!o.json) {
    std::printf("fetched %s: %d pieces verified, %s transferred in %.1f s\n", ro.device.c_str(),
                p.pieces_total, MetricFormat::bytes(static_cast<double>(p.downloaded)).c_str(),
                elapsed());
  }
  return 0;
}

}  // namespace dynamicfs

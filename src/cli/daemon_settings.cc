// DaemonSettings: validation, live application and persistence.
#include "src/cli/daemon_settings.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "src/cli/mount_flags.h"
#include "src/extent/volume_config.h"

namespace dynamicfs {

namespace {

using K = SettingDef::Kind;

const std::vector<SettingDef> kDefs = {
    {"io_workers", K::kNumber, 0, 256, "0", true,
     "I/O worker threads per disk; 0 picks 4 for SSDs and files, 2 for rotating disks"},
    {"group_commit", K::kOnOff, 0, 0, "on", true,
     "Merge concurrent metadata writes and fsyncs into shared commits (off: one each)"},
    {"commit_max_batch_ops", K::kNumber, 1, 1u << 20, "4096", true,
     "Most metadata mutations merged into one RocksDB write"},
    {"commit_max_delay_us", K::kNumber, 0, 100000, "0", true,
     "How long an fsync waits for others to share its commit (microseconds)"},
    {"sync_interval_ms", K::kNumber, 1, 3600000, "1000", true,
     "Background sync interval that makes freed space reusable (milliseconds)"},
    {"scrub_rate_mb", K::kNumber, 0, 1000000, "0", true,
     "Default scrub rate limit in MB/s when `scrub --rate` is not given; 0 = unlimited"},
    {"scrub_interval", K::kNumber, 0, 366u * 24 * 3600, "0", true,
     "Seconds from the end of one scrub to the start of the next automatic one (e.g. 604800: "
     "weekly); 0 = only on request"},
    {"discard", K::kOnOff, 0, 0, "on", true,
     "Discard freed space on the disks in batches (BLKDISCARD, or holes in disk files); "
     "`dynamicfs trim` works either way"},
    {"journal_max_kb", K::kNumber, 0, 1024, "64", true,
     "Writes of up to this many KiB also carry their data in the metadata WAL, so fsync after "
     "small writes syncs the WAL alone (the disks follow in the background sync); 0 = off"},
    {"tiering", K::kOnOff, 0, 0, "on", true,
     "Put new and hot data on ssd-class disks and move cold data to hdd-class disks (acts only "
     "when both classes have disks; see `disk class`)"},
    {"tier_high_water", K::kNumber, 1, 100, "80", true,
     "Percent of the ssd class in use above which the coldest files move to the hdd class"},
    {"tier_low_water", K::kNumber, 0, 99, "70", true,
     "Percent the ssd class is emptied down to; below it recently read files move onto it"},
    {"tier_hot_seconds", K::kNumber, 0, 30u * 24 * 3600, "300", true,
     "A file read within this many seconds is hot (moved onto the ssd class when there is room)"},
    {"tier_interval_ms", K::kNumber, 100, 3600000, "2000", true,
     "How often the tiering migration looks at the classes (milliseconds)"},
    {"extent_cache_mb", K::kNumber, 0, 1u << 20, "128", true,
     "Memory in MiB for verified file data read recently (the extent cache); 0 = off"},
    {"metadata_cache_mb", K::kNumber, 1, 1u << 20, "64", true,
     "Size of the metadata (RocksDB) block cache in MiB"},
    {"entry_timeout", K::kSeconds, 0, 3600, "10", true,
     "Seconds the kernel may cache names (new lookups use the new value)"},
    {"attr_timeout", K::kSeconds, 0, 3600, "10", true, "Seconds the kernel may cache attributes"},
    {"writeback_cache", K::kOnOff, 0, 0, "off", false,
     "Let the kernel cache writes and send them in large chunks (takes effect at mount)"},
    {"atime", K::kAtime, 0, 0, "relatime", true,
     "Access-time updates: relatime (on the first read after a change, or a day later), "
     "strictatime (every read; opens then drop cached pages so reads reach the daemon) or "
     "noatime; also set by -o relatime, strictatime, noatime"},
    {"diratime", K::kOnOff, 0, 0, "on", true,
     "Update directories' access times when they are listed (-o nodiratime: off)"},
    {"log_level", K::kLogLevel, 0, 0, "info", true,
     "Daemon log level: trace, debug, info, warn, error, critical or off"},
    {"metrics_listen", K::kListen, 0, 0, "", false,
     "[HOST:]PORT for the Prometheus HTTP endpoint (/metrics); loopback unless a host is "
     "given; empty = off; takes effect at mount"},
};

}  // namespace

const std::vector<SettingDef>& DaemonSettings::defs() {
  return kDefs;
}

const SettingDef* DaemonSettings::find(std::string_view name) {
  for (const auto& d : kDefs) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

DaemonSettings::DaemonSettings() {
  for (const auto& d : kDefs) m_values[std::string(d.name)] = std::string(d.default_value);
}

Result<std::string> DaemonSettings::canonical(const SettingDef& def, const std::string& value) {
  std::string name(def.name);
  switch (def.kind) {
    case K::kNumber: {
      char* end = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || value[0] == '-' || *end != '\0' || errno != 0 || n < def.min ||
          n > def.max) {
        return Status::error(EINVAL, "invalid value '" + value + "' for " + name + " (expected " +
                                         std::to_string(def.min) + ".." + std::to_string(def.max) +
                                         ")");
      }
      return std::to_string(n);
    }
    case K::kSeconds: {
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(v) || v < static_cast<double>(def.min) ||
          v > static_cast<double>(def.max)) {
        return Status::error(EINVAL, "invalid value '" + value + "' for " + name +
                                         " (expected seconds, 0.." + std::to_string(def.max) + ")");
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%g", v);
      return std::string(buf);
    }
    case K::kOnOff:
      if (value == "on" || value == "true" || value == "1") return std::string("on");
      if (value == "off" || value == "false" || value == "0") return std::string("off");
      return Status::error(EINVAL, name + " takes on or off, not '" + value + "'");
    case K::kLogLevel: {
      auto level = spdlog::level::from_str(value);
      if (level == spdlog::level::off && value != "off") {
        return Status::error(EINVAL, "unknown log level '" + value +
                                         "' (trace, debug, info, warn, error, critical, off)");
      }
      return std::string(spdlog::level::to_string_view(level).data(),
                         spdlog::level::to_string_view(level).size());
    }
    case K::kListen:
      return value;  // checked when the endpoint starts
    case K::kAtime:
      if (value == "relatime" || value == "strictatime" || value == "noatime") return value;
      return Status::error(EINVAL,
                           name + " takes relatime, strictatime or noatime, not '" + value + "'");
  }
  return Status::error(EINVAL, "unknown setting kind");
}

Status DaemonSettings::store(const std::string& name, const std::string& value) {
  const SettingDef* def = find(name);
  if (def == nullptr) return Status::error(ENOENT, "unknown setting '" + name + "'");
  DFS_ASSIGN_OR_RETURN(std::string v, canonical(*def, value));
  m_values[name] = v;
  return Status::ok();
}

Status DaemonSettings::load_persisted(const std::map<std::string, std::string>& persisted,
                                      const std::string& source) {
  std::lock_guard lk(m_mutex);
  for (const auto& [k, v] : persisted) {
    Status st = store(k, v);
    if (!st.is_ok()) return Status::error(st.err(), source + ": " + st.message());
  }
  return Status::ok();
}

namespace {

// The VFS access-time options of mount(8) and fstab, as the settings they
// set. lazytime is accepted and changes nothing: an access-time update is
// never synced on its own, it reaches the disk with the next metadata sync.
std::optional<std::string> atime_option(const std::string& opt) {
  if (opt == "noatime") return "atime=noatime";
  if (opt == "relatime" || opt == "atime" || opt == "nostrictatime") return "atime=relatime";
  if (opt == "strictatime" || opt == "norelatime") return "atime=strictatime";
  if (opt == "nodiratime") return "diratime=off";
  if (opt == "diratime") return "diratime=on";
  if (opt == "lazytime" || opt == "nolazytime") return "";
  return std::nullopt;
}

// Mount flags the kernel applies on a remount (mount.dynamicfs passes them
// to mount(2)), and the FUSE mount's own options, which mount(8) repeats
// from the mount table: the daemon has nothing to change for them.
bool kernel_mount_flag(const std::string& opt) {
  unsigned long ignored = 0;
  if (opt == "remount" || opt == "allow_other" || opt == "default_permissions" ||
      MountFlags::apply(opt, &ignored)) {
    return true;
  }
  static const char* const kFuse[] = {
      "user_id=", "group_id=", "fsname=", "subtype=", "max_read=", "blksize=", "rootmode=", "fd="};
  for (const char* f : kFuse)
    if (opt.starts_with(f)) return true;
  return false;
}

}  // namespace

Status DaemonSettings::apply_mount_options(const std::vector<std::string>& options,
                                           std::vector<std::string>* fuse_options) {
  std::lock_guard lk(m_mutex);
  for (std::string opt : options) {
    if (auto setting = atime_option(opt)) {
      // noatime also goes to the kernel, so the mount table shows it.
      if (opt == "noatime") fuse_options->push_back(opt);
      opt = *setting;
    }
    if (opt.empty()) continue;
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq);
    if (find(key) == nullptr) {
      fuse_options->push_back(opt);
      continue;
    }
    if (eq == std::string::npos) return Status::error(EINVAL, "-o " + key + " needs =VALUE");
    Status st = store(key, opt.substr(eq + 1));
    if (!st.is_ok()) return Status::error(st.err(), "-o " + opt + ": " + st.message());
  }
  return Status::ok();
}

Status DaemonSettings::remount(const std::vector<std::string>& options) {
  std::lock_guard lk(m_mutex);
  for (std::string opt : options) {
    if (auto setting = atime_option(opt)) opt = *setting;
    if (opt.empty() || kernel_mount_flag(opt)) continue;
    auto eq = opt.find('=');
    const SettingDef* def = find(opt.substr(0, eq));
    if (def == nullptr || !def->live || eq == std::string::npos) {
      return Status::error(EINVAL,
                           "-o " + opt + " cannot change on a remount (unmount and mount again)");
    }
    const std::string name(def->name);
    DFS_ASSIGN_OR_RETURN(std::string v, canonical(*def, opt.substr(eq + 1)));
    if (v == m_values[name]) continue;
    if (m_fs != nullptr)
      spdlog::info("remount: setting {} changed from {} to {}", name, m_values[name], v);
    m_values[name] = v;
    apply_live(name);
  }
  return Status::ok();
}

AtimePolicy DaemonSettings::atime_policy() const {
  AtimePolicy p;
  const std::string& mode = m_values.at("atime");
  p.mode = mode == "noatime"       ? AtimePolicy::Mode::kNoatime
           : mode == "strictatime" ? AtimePolicy::Mode::kStrictatime
                                   : AtimePolicy::Mode::kRelatime;
  p.dir_atime = m_values.at("diratime") == "on";
  return p;
}

TierSettings DaemonSettings::tier_settings() const {
  TierSettings t;
  t.enabled = m_values.at("tiering") == "on";
  t.high_water = static_cast<unsigned>(number("tier_high_water"));
  t.low_water = static_cast<unsigned>(number("tier_low_water"));
  t.hot_seconds = static_cast<unsigned>(number("tier_hot_seconds"));
  t.interval_ms = static_cast<unsigned>(number("tier_interval_ms"));
  return t;
}

uint64_t DaemonSettings::number(const std::string& name) const {
  auto it = m_values.find(name);
  return it == m_values.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

void DaemonSettings::fill(FsOptions* fs, FuseConfig* fuse) const {
  std::lock_guard lk(m_mutex);
  fs->commit.enabled = m_values.at("group_commit") == "on";
  fs->commit.max_batch_ops = number("commit_max_batch_ops");
  fs->commit.max_delay_us = static_cast<uint32_t>(number("commit_max_delay_us"));
  fs->io_workers = static_cast<unsigned>(number("io_workers"));
  fs->sync_interval_ms = static_cast<unsigned>(number("sync_interval_ms"));
  fs->discard = m_values.at("discard") == "on";
  fs->journal_max_bytes = static_cast<uint32_t>(number("journal_max_kb") << 10);
  fs->extent_cache_bytes = number("extent_cache_mb") << 20;
  fs->tiering = tier_settings();
  fs->atime = atime_policy();
  fuse->entry_timeout = std::strtod(m_values.at("entry_timeout").c_str(), nullptr);
  fuse->attr_timeout = std::strtod(m_values.at("attr_timeout").c_str(), nullptr);
  fuse->writeback_cache = m_values.at("writeback_cache") == "on";
}

void DaemonSettings::attach(FileSystem* fs, FuseServer* fuse) {
  std::lock_guard lk(m_mutex);
  m_fs = fs;
  m_fuse = fuse;
  apply_live("metadata_cache_mb");
  apply_live("log_level");
}

void DaemonSettings::apply_live(const std::string& name) {
  if (name == "log_level") {
    (void)apply_log_level(m_values.at(name));
    return;
  }
  if (m_fs == nullptr) return;
  if (name == "io_workers") {
    m_fs->set_io_workers(static_cast<unsigned>(number(name)));
  } else if (name == "group_commit" || name == "commit_max_batch_ops" ||
             name == "commit_max_delay_us") {
    GroupCommitSettings gc;
    gc.enabled = m_values.at("group_commit") == "on";
    gc.max_batch_ops = number("commit_max_batch_ops");
    gc.max_delay_us = static_cast<uint32_t>(number("commit_max_delay_us"));
    m_fs->set_commit_settings(gc);
  } else if (name == "sync_interval_ms") {
    m_fs->set_sync_interval_ms(static_cast<unsigned>(number(name)));
  } else if (name == "atime" || name == "diratime") {
    m_fs->set_atime_policy(atime_policy());
  } else if (name.rfind("tier", 0) == 0) {
    m_fs->set_tier_settings(tier_settings());
  } else if (name == "extent_cache_mb") {
    m_fs->set_extent_cache_bytes(number(name) << 20);
  } else if (name == "discard") {
    m_fs->set_discard(m_values.at(name) == "on");
  } else if (name == "journal_max_kb") {
    m_fs->set_journal_max_bytes(static_cast<uint32_t>(number(name) << 10));
  } else if (name == "metadata_cache_mb") {
    m_fs->volume().meta().set_block_cache_capacity(number(name) << 20);
  } else if (m_fuse != nullptr && name == "entry_timeout") {
    m_fuse->set_entry_timeout(std::strtod(m_values.at(name).c_str(), nullptr));
  } else if (m_fuse != nullptr && name == "attr_timeout") {
    m_fuse->set_attr_timeout(std::strtod(m_values.at(name).c_str(), nullptr));
  }
}

Status DaemonSettings::apply_log_level(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return Status::error(EINVAL, "unknown log level '" + level + "'");
  spdlog::set_level(lvl);
  return Status::ok();
}

Result<std::string> DaemonSettings::get(const std::string& name) const {
  std::lock_guard lk(m_mutex);
  auto it = m_values.find(name);
  if (it == m_values.end()) return Status::error(ENOENT, "unknown setting '" + name + "'");
  return it->second;
}

nlohmann::json DaemonSettings::all() const {
  std::lock_guard lk(m_mutex);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : m_values) out[k] = v;
  return out;
}

Status DaemonSettings::set(const std::string& name, const std::string& value, bool persist,
                           const std::string& volume_dir) {
  std::lock_guard lk(m_mutex);
  const SettingDef* def = find(name);
  if (def == nullptr) return Status::error(ENOENT, "unknown setting '" + name + "'");
  DFS_ASSIGN_OR_RETURN(std::string v, canonical(*def, value));
  if (!def->live && !persist) {
    return Status::error(EINVAL, name +
                                     " takes effect only at mount; add --persist to store it "
                                     "in volume.toml for the next mount");
  }
  if (persist) {
    std::unique_lock<std::mutex> file_lk;
    if (m_fs != nullptr) file_lk = std::unique_lock(m_fs->volume().config_file_mutex());
    DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(volume_dir));
    cfg.settings[name] = v;
    DFS_RETURN_IF_ERROR(cfg.save(volume_dir));
  }
  if (def->live) {
    std::string old = m_values[name];
    m_values[name] = v;
    apply_live(name);
    spdlog::info("setting {} changed from {} to {}{}", name, old, v, persist ? " (persisted)" : "");
  } else {
    spdlog::info("setting {} = {} persisted for the next mount", name, v);
  }
  return Status::ok();
}

}  // namespace dynamicfs

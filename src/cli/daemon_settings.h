// DaemonSettings: the daemon's named settings (I/O workers, group commit,
// sync interval, scrub rate, cache size, kernel cache timeouts, log level,
// metrics endpoint). One table serves all three ways to set them: the
// [settings] table of volume.toml, `mount -o KEY=VALUE`, and
// `dynamicfs config set KEY VALUE` at run time, which applies the change at
// once (like libtorrent's settings_updated) and, with --persist, writes it to
// volume.toml for the next mount.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuse/fuse_server.h"
#include "src/common/result.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

struct SettingDef {
  enum class Kind { kNumber, kOnOff, kSeconds, kLogLevel, kListen, kAtime };
  std::string_view name;
  Kind kind;
  uint64_t min, max;  // kNumber and kSeconds
  std::string_view default_value;
  bool live;  // can change while mounted
  std::string_view help;
};

class DaemonSettings {
 public:
  static const std::vector<SettingDef>& defs();
  static const SettingDef* find(std::string_view name);

  DaemonSettings();

  // Before the filesystem exists: persisted values, then -o options. Every
  // option that is not a setting goes to `fuse_options`.
  // SOURCE names where they come from in errors (a file, a table).
  Status load_persisted(const std::map<std::string, std::string>& persisted,
                        const std::string& source);
  Status apply_mount_options(const std::vector<std::string>& options,
                             std::vector<std::string>* fuse_options);
  void fill(FsOptions* fs, FuseConfig* fuse) const;
  // mount -o remount: the live settings among OPTIONS (including the
  // access-time options) take effect at once; mount flags such as ro are
  // the kernel's, and the rest is refused as mount-time only.
  Status remount(const std::vector<std::string>& options);

  // From here on set() changes the running daemon too.
  void attach(FileSystem* fs, FuseServer* fuse);

  Result<std::string> get(const std::string& name) const;
  nlohmann::json all() const;
  // Validates, applies at once (live settings), and with `persist` stores
  // the value in VOLUME_DIR/volume.toml. A setting that is not live can
  // only be persisted (it takes effect at the next mount).
  Status set(const std::string& name, const std::string& value, bool persist,
             const std::string& volume_dir);
  // Changes the log level (also the `log_level` setting).
  static Status apply_log_level(const std::string& level);

 private:
  // Checks VALUE for NAME and returns its canonical spelling.
  static Result<std::string> canonical(const SettingDef& def, const std::string& value);
  Status store(const std::string& name, const std::string& value);  // m_mutex held
  void apply_live(const std::string& name);                         // m_mutex held
  uint64_t number(const std::string& name) const;                   // m_mutex held
  TierSettings tier_settings() const;                               // m_mutex held
  AtimePolicy atime_policy() const;                                 // m_mutex held

  mutable std::mutex m_mutex;
  std::map<std::string, std::string> m_values;
  FileSystem* m_fs = nullptr;
  FuseServer* m_fuse = nullptr;
};

}  // namespace dynamicfs

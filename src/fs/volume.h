// Volume: a volume directory opened for use: its config, its disks (each
// with its superblock checked against the config and its own I/O scheduler)
// and its metadata store. Also creates volumes (mkfs). Everything that can
// refuse a mount is checked here, before anything is written.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/fs/volume_config.h"
#include "src/io/disk.h"
#include "src/io/io_scheduler.h"
#include "src/io/superblock.h"

namespace dynamicfs {

struct FormatOptions {
  std::string volume_dir;
  std::vector<std::string> disks;
  uint64_t create_size = 8ull << 30;  // for disk files that do not exist yet
  uint32_t replicas = 1;
  bool force = false;
};

class Volume {
 public:
  static constexpr uint64_t kMinDiskSize = 64ull << 20;

  // mkfs: writes superblocks, the metadata store with the root directory,
  // and volume.toml. Refuses foreign or already-used disks unless forced.
  static Status format(const FormatOptions& opts);

  static Result<std::unique_ptr<Volume>> open(const std::string& volume_dir);

  const std::string& dir() const { return m_dir; }
  const VolumeConfig& config() const { return m_config; }
  size_t disk_count() const { return m_disks.size(); }
  const Disk& disk(size_t i) const { return *m_disks[i]; }
  Disk& disk(size_t i) { return *m_disks[i]; }
  const Superblock& superblock(size_t i) const { return m_superblocks[i]; }
  IoScheduler& scheduler(size_t i) const { return *m_schedulers[i]; }
  MetaStore& meta() { return *m_meta; }

  static std::string meta_dir(const std::string& volume_dir) { return volume_dir + "/meta"; }
  static std::string log_dir(const std::string& volume_dir) { return volume_dir + "/log"; }

 private:
  Volume() = default;
  std::string m_dir;
  VolumeConfig m_config;
  std::vector<std::unique_ptr<Disk>> m_disks;
  std::vector<Superblock> m_superblocks;
  std::vector<std::unique_ptr<IoScheduler>> m_schedulers;
  std::unique_ptr<MetaStore> m_meta;
};

}  // namespace dynamicfs

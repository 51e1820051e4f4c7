// Volume: a volume directory opened for use: its config, its disks (each
// with its superblock checked against the config and its own I/O scheduler)
// and its metadata store. Also creates volumes (mkfs). Everything that can
// refuse a mount is checked here, before anything is written.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/extent/snapshot_catalog.h"
#include "src/extent/volume_config.h"
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
  // Tiering class per disk, in --disk order ("ssd", "hdd"; missing or ""
  // means detected from the device).
  std::vector<std::string> classes;
};

// What a disk is doing. Failed: it returned an I/O error while the volume
// had other copies to serve from; it gets no new data and is read only as a
// last resort. Draining: `disk remove` is moving its data away. Removed: it
// holds nothing of the volume any more (its index stays taken).
enum class DiskState : uint8_t { kOnline = 0, kFailed = 1, kDraining = 2, kRemoved = 3 };
const char* disk_state_name(DiskState s);

// Storage class of a disk for tiering: new and hot data goes to kSsd.
enum class DiskClass : uint8_t { kSsd = 0, kHdd = 1 };
const char* disk_class_name(DiskClass c);

class Volume {
 public:
  static constexpr uint64_t kMinDiskSize = 64ull << 20;
  static constexpr size_t kMaxDisks = 64;

  // mkfs: writes superblocks, the metadata store with the root directory,
  // and volume.toml. Refuses foreign or already-used disks unless forced.
  static Status format(const FormatOptions& opts);

  static Result<std::unique_ptr<Volume>> open(const std::string& volume_dir);
  // The snapshot NAME of the volume, read-only: its metadata checkpoint and
  // the disks opened read-only and unlocked (the live volume may be mounted
  // meanwhile); the snapshot is held against deletion while this is open.
  static Result<std::unique_ptr<Volume>> open_snapshot(const std::string& volume_dir,
                                                       const std::string& name);
  bool read_only() const { return !m_snapshot.empty(); }
  // The snapshot this is (open_snapshot), or "".
  const std::string& snapshot() const { return m_snapshot; }

  const std::string& dir() const { return m_dir; }
  const VolumeConfig& config() const { return m_config; }
  size_t disk_count() const { return m_count.load(std::memory_order_acquire); }
  const Disk& disk(size_t i) const { return *m_slots[i]->disk; }
  Disk& disk(size_t i) { return *m_slots[i]->disk; }
  const Superblock& superblock(size_t i) const { return m_slots[i]->superblock; }
  IoScheduler& scheduler(size_t i) const { return *m_slots[i]->scheduler; }
  MetaStore& meta() { return *m_meta; }
  uint32_t replicas() const { return m_config.replicas; }

  DiskState disk_state(size_t i) const { return m_slots[i]->state.load(); }
  // Online -> failed, logged once with the reason. Only with replicas > 1:
  // a single-copy volume has nowhere else to serve from, so its errors go
  // back to the caller and the disk stays in use.
  void mark_failed(size_t i, const std::string& why);
  void set_draining(size_t i, bool draining);
  // The disk's class: as set by `disk class` (volume.toml), else hdd for a
  // rotational device and ssd otherwise.
  DiskClass disk_class(size_t i) const { return m_slots[i]->disk_class.load(); }
  bool disk_class_detected(size_t i) const { return m_slots[i]->class_detected.load(); }
  // Sets the class ("ssd", "hdd", or "auto" for detection) and records it.
  Status set_disk_class(size_t i, const std::string& cls);
  // Held by whoever loads, changes and saves volume.toml while mounted, so
  // two such updates never drop each other's change.
  std::mutex& config_file_mutex() { return m_config_mutex; }
  // Disks of class `c` (any state).
  uint64_t class_mask(DiskClass c) const;

  // `disk add`: checks the disk like mkfs does (refusing one with data unless
  // forced), writes its superblock, records it in volume.toml and opens it;
  // returns its index. Callers serialise add and remove.
  Result<uint32_t> add_disk(const std::string& path, uint64_t create_size, bool force);
  // `disk remove`, once nothing references the disk: records it as removed
  // in volume.toml and wipes its superblock, so it can be used elsewhere.
  Status finish_remove(size_t i);
  // Disks that may receive new data.
  uint64_t writable_mask() const;
  size_t writable_count() const;
  bool degraded() const;

  // Why a disk cannot join a volume (too small, holds data), or ok.
  static Status check_new_disk(const std::string& path, const Disk& disk, bool existed, bool force);

  static std::string meta_dir(const std::string& volume_dir) { return volume_dir + "/meta"; }
  static std::string log_dir(const std::string& volume_dir) { return volume_dir + "/log"; }

 private:
  Volume() = default;
  static Result<std::unique_ptr<Volume>> open_impl(const std::string& volume_dir,
                                                   const std::string& snapshot);
  std::string m_dir;
  std::string m_snapshot;
  std::unique_ptr<SnapshotHold> m_snapshot_hold;
  VolumeConfig m_config;
  struct Slot {
    std::unique_ptr<Disk> disk;
    Superblock superblock;
    std::unique_ptr<IoScheduler> scheduler;
    std::atomic<DiskState> state{DiskState::kOnline};
    std::atomic<DiskClass> disk_class{DiskClass::kSsd};
    std::atomic<bool> class_detected{true};
  };
  // The class from the config entry, else from the device.
  static DiskClass initial_class(const DiskConfig* dc, const Disk& disk, bool* detected);
  // Appends a disk; slots never move, so readers index them without a lock.
  void add_slot(std::unique_ptr<Disk> disk, const Superblock& sb);

  std::array<std::unique_ptr<Slot>, kMaxDisks> m_slots;
  std::atomic<size_t> m_count{0};
  std::unique_ptr<MetaStore> m_meta;
  std::mutex m_config_mutex;
};

}  // namespace dynamicfs

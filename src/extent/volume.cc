// Volume: mkfs and the mount-time checks of disks and metadata.
#include "src/extent/volume.h"

#include <blkid/blkid.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "metadata/inode_record.h"
#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/extent/journal_replay.h"

namespace dynamicfs {

namespace {

// Names a filesystem or partition table found on PATH, or "" if none.
std::string foreign_signature(const std::string& path) {
  blkid_probe pr = blkid_new_probe_from_filename(path.c_str());
  if (pr == nullptr) return "";
  blkid_probe_enable_superblocks(pr, 1);
  blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
  blkid_probe_enable_partitions(pr, 1);
  std::string found;
  int rc = blkid_do_safeprobe(pr);
  if (rc == 0) {
    const char* val = nullptr;
    if (blkid_probe_lookup_value(pr, "TYPE", &val, nullptr) == 0 && val != nullptr) {
      found = val;
    } else if (blkid_probe_lookup_value(pr, "PTTYPE", &val, nullptr) == 0 && val != nullptr) {
      found = std::string("partition table ") + val;
    } else {
      found = "unknown signature";
    }
  } else if (rc == -2) {
    found = "ambiguous signatures";
  }
  blkid_free_probe(pr);
  return found;
}

Status write_root(MetaStore& meta, const Uuid& volume_uuid,
                  const std::vector<std::pair<uint64_t, uint64_t>>& areas) {
  rocksdb::WriteBatch batch;
  InodeRecord root;
  root.ino = 1;
  root.mode = S_IFDIR | 0755;
  root.uid = getuid();
  root.gid = getgid();
  root.nlink = 2;
  root.size = 4096;
  root.parent = 1;
  root.atime = root.mtime = root.ctime = root.crtime = now_timestamp();
  batch.Put(meta.handle(Cf::kInodes), KeyCodec::inode_key(1), root.encode());
  std::string next;
  put_le<uint64_t>(&next, 2);
  batch.Put(meta.handle(Cf::kVolume), KeyCodec::kNextIno, next);
  batch.Put(meta.handle(Cf::kVolume), KeyCodec::kVolumeUuid, uuid_to_string(volume_uuid));
  batch.Put(meta.handle(Cf::kVolume), KeyCodec::kFormatVersion,
            std::to_string(Superblock::kFormatVersion));
  // A fresh volume is clean: every data area is free and there is one inode.
  for (uint32_t d = 0; d < areas.size(); ++d) {
    std::string len;
    put_le<uint64_t>(&len, areas[d].second - areas[d].first);
    batch.Put(meta.handle(Cf::kAlloc), KeyCodec::alloc_key(d, areas[d].first), len);
  }
  std::string inodes;
  put_le<uint64_t>(&inodes, 1);
  batch.Put(meta.handle(Cf::kVolume), KeyCodec::kCleanUnmount, inodes);
  DFS_RETURN_IF_ERROR(meta.write(&batch, true));
  return meta.flush();
}

}  // namespace

Status Volume::check_new_disk(const std::string& path, const Disk& disk, bool existed, bool force) {
  if (disk.size() < kMinDiskSize) {
    return Status::error(ENOSPC, "disk " + path + " is too small (" +
                                     std::to_string(disk.size() >> 20) + " MiB; at least " +
                                     std::to_string(kMinDiskSize >> 20) + " MiB needed)");
  }
  if (!existed || force) return Status::ok();
  std::string block(Superblock::kSize, '\0');
  DFS_RETURN_IF_ERROR(disk.read_at(block.data(), block.size(), 0));
  if (Superblock::has_magic(block)) {
    auto sb = Superblock::decode(block);
    std::string owner = sb.is_ok() ? " of volume " + uuid_to_string(sb->volume_uuid) : "";
    return Status::error(EEXIST, "disk " + path + " already belongs to a dynamicfs volume" + owner +
                                     " (use --force to overwrite)");
  }
  std::string sig = foreign_signature(path);
  if (!sig.empty()) {
    return Status::error(
        EEXIST, "disk " + path + " holds a " + sig + " signature (use --force to overwrite)");
  }
  return Status::ok();
}

Status Volume::format(const FormatOptions& opts) {
  namespace fs = std::filesystem;
  if (opts.disks.empty()) return Status::error(EINVAL, "mkfs needs at least one --disk");
  if (opts.replicas < 1 || opts.replicas > opts.disks.size()) {
    return Status::error(EINVAL, "--replicas " + std::to_string(opts.replicas) +
                                     " needs at least that many disks (" +
                                     std::to_string(opts.disks.size()) + " given)");
  }
  std::error_code ec;
  fs::create_directories(opts.volume_dir, ec);
  if (ec) return Status::error(ec.value(), "cannot create volume directory " + opts.volume_dir);
  if (fs::exists(VolumeConfig::file_path(opts.volume_dir)) ||
      fs::exists(meta_dir(opts.volume_dir))) {
    if (!opts.force) {
      return Status::error(
          EEXIST,
          opts.volume_dir + " already holds a dynamicfs volume (use --force to replace it)");
    }
    fs::remove_all(meta_dir(opts.volume_dir), ec);
    fs::remove(VolumeConfig::file_path(opts.volume_dir), ec);
  }

  VolumeConfig cfg;
  cfg.volume_uuid = uuid_generate_random();
  cfg.replicas = opts.replicas;
  std::vector<std::unique_ptr<Disk>> disks;
  std::set<std::pair<dev_t, ino_t>> seen;
  for (size_t i = 0; i < opts.disks.size(); ++i) {
    std::string path = fs::absolute(opts.disks[i]).lexically_normal().string();
    bool existed = fs::exists(path);
    auto disk = Disk::open(path, existed ? 0 : opts.create_size);
    if (!disk.is_ok()) return disk.status();
    struct stat st {};
    ::stat(path.c_str(), &st);
    if (!seen.insert({st.st_dev, st.st_ino}).second)
      return Status::error(EINVAL, "disk " + path + " is listed twice");
    DFS_RETURN_IF_ERROR(check_new_disk(path, *disk.value(), existed, opts.force));
    DiskConfig dc;
    dc.index = static_cast<uint32_t>(i);
    dc.uuid = uuid_generate_random();
    dc.path = path;
    dc.size = disk.value()->size() & ~uint64_t{Superblock::kBlockSize - 1};
    if (i < opts.classes.size() && opts.classes[i] != "auto") dc.disk_class = opts.classes[i];
    if (!dc.disk_class.empty() && dc.disk_class != "ssd" && dc.disk_class != "hdd")
      return Status::error(EINVAL,
                           "disk class must be ssd, hdd or auto, not '" + dc.disk_class + "'");
    cfg.disks.push_back(dc);
    disks.push_back(std::move(disk).value());
  }
  std::vector<std::pair<uint64_t, uint64_t>> areas;
  for (size_t i = 0; i < disks.size(); ++i) {
    Superblock sb;
    sb.volume_uuid = cfg.volume_uuid;
    sb.disk_uuid = cfg.disks[i].uuid;
    sb.disk_index = static_cast<uint32_t>(i);
    sb.disk_count = static_cast<uint32_t>(disks.size());
    sb.disk_size = disks[i]->size() & ~uint64_t{Superblock::kBlockSize - 1};
    DFS_RETURN_IF_ERROR(sb.write_to(*disks[i]));
    areas.emplace_back(sb.data_start, sb.disk_size);
  }
  DFS_ASSIGN_OR_RETURN(auto meta, MetaStore::open(meta_dir(opts.volume_dir), /*create=*/true));
  DFS_RETURN_IF_ERROR(write_root(*meta, cfg.volume_uuid, areas));
  fs::create_directories(log_dir(opts.volume_dir), ec);
  return cfg.save(opts.volume_dir);
}

Result<std::unique_ptr<Volume>> Volume::open(const std::string& volume_dir) {
  return open_impl(volume_dir, "");
}

Result<std::unique_ptr<Volume>> Volume::open_snapshot(const std::string& volume_dir,
                                                      const std::string& name) {
  DFS_RETURN_IF_ERROR(SnapshotCatalog::check_name(name));
  return open_impl(volume_dir, name);
}

Result<std::unique_ptr<Volume>> Volume::open_impl(const std::string& volume_dir,
                                                  const std::string& snapshot) {
  std::unique_ptr<Volume> vol(new Volume());
  vol->m_dir = std::filesystem::absolute(volume_dir).lexically_normal().string();
  vol->m_snapshot = snapshot;
  DFS_ASSIGN_OR_RETURN(auto cfg, VolumeConfig::load(vol->m_dir));
  if (!snapshot.empty()) {
    DFS_ASSIGN_OR_RETURN(auto hold, SnapshotCatalog::hold(vol->m_dir, snapshot));
    vol->m_snapshot_hold = std::move(hold);
  }
  vol->m_config = std::move(cfg);
  size_t missing = 0;
  for (const auto& dc : vol->m_config.disks) {
    if (dc.removed) {
      Superblock sb;
      sb.disk_index = dc.index;
      sb.disk_size = sb.data_start;  // an empty data area
      vol->add_slot(Disk::missing(dc.path, 0), sb);
      vol->m_slots[dc.index]->state = DiskState::kRemoved;
      continue;
    }
    auto disk = snapshot.empty() ? Disk::open(dc.path) : Disk::open_read_only(dc.path);
    // With more copies than missing disks every extent still has a copy:
    // mount degraded, the missing disk marked failed.
    if (!disk.is_ok() && vol->m_config.replicas > missing + 1 && dc.size != 0) {
      ++missing;
      spdlog::error(
          "disk {} ({}) at {} is unavailable ({}); mounting degraded from the other copies",
          dc.index, uuid_to_string(dc.uuid), dc.path, std::strerror(disk.err()));
      Superblock sb;
      sb.volume_uuid = vol->m_config.volume_uuid;
      sb.disk_uuid = dc.uuid;
      sb.disk_index = dc.index;
      sb.disk_count = static_cast<uint32_t>(vol->m_config.disks.size());
      sb.disk_size = dc.size;
      vol->add_slot(Disk::missing(dc.path, dc.size), sb);
      vol->m_slots[dc.index]->state = DiskState::kFailed;
      continue;
    }
    if (!disk.is_ok()) {
      return Status::error(disk.err(), "disk " + std::to_string(dc.index) + " (" +
                                           uuid_to_string(dc.uuid) + ") at " + dc.path +
                                           " is unavailable: " + std::strerror(disk.err()));
    }
    auto sb = Superblock::read_from(*disk.value());
    if (!sb.is_ok()) return Status::error(sb.err(), "refusing to mount: " + sb.status().message());
    if (sb->volume_uuid != vol->m_config.volume_uuid) {
      return Status::error(EXDEV, "refusing to mount: disk " + dc.path +
                                      " belongs to another volume (" +
                                      uuid_to_string(sb->volume_uuid) + ")");
    }
    if (sb->disk_uuid != dc.uuid || sb->disk_index != dc.index) {
      return Status::error(EXDEV, "refusing to mount: disk " + dc.path + " is disk " +
                                      uuid_to_string(sb->disk_uuid) + ", but volume.toml expects " +
                                      uuid_to_string(dc.uuid) + " at index " +
                                      std::to_string(dc.index));
    }
    // disk_count is the pool size when the disk joined: later `disk add`s
    // grow the pool without rewriting older superblocks.
    if (sb->disk_count > vol->m_config.disks.size()) {
      return Status::error(EXDEV, "refusing to mount: disk " + dc.path +
                                      " was formatted for a volume of " +
                                      std::to_string(sb->disk_count) + " disks");
    }
    // Held while the volume is open: a second mount, or a replicate fetch
    // in any mount namespace, sees the disk is in use. (A snapshot only
    // reads space the live volume keeps for it.)
    Status held = snapshot.empty() ? disk.value()->hold_exclusive() : Status::ok();
    if (!held.is_ok()) {
      return Status::error(EBUSY, "volume " + vol->m_dir + " is in use: " + held.message() +
                                      " (mounted, or being checked)");
    }
    vol->add_slot(std::move(disk).value(), sb.value());
  }
  auto meta = snapshot.empty()
                  ? MetaStore::open(meta_dir(vol->m_dir), /*create=*/false)
                  : MetaStore::open_read_only(SnapshotCatalog::meta_dir(vol->m_dir, snapshot));
  if (!meta.is_ok()) {
    if (meta.err() == EBUSY)
      return Status::error(
          EBUSY, "volume " + vol->m_dir + " is already mounted (metadata store is locked)");
    return meta.status();
  }
  vol->m_meta = std::move(meta).value();
  DFS_ASSIGN_OR_RETURN(auto stored, vol->m_meta->get(Cf::kVolume, KeyCodec::kVolumeUuid));
  if (!stored.has_value() || *stored != uuid_to_string(vol->m_config.volume_uuid)) {
    return Status::error(EXDEV, "refusing to mount: metadata store does not belong to volume " +
                                    uuid_to_string(vol->m_config.volume_uuid));
  }
  // Small writes acknowledged by an fsync before a crash may be durable only
  // in the WAL: put them back on the disks before anyone reads them.
  if (snapshot.empty()) {
    auto blobs = vol->m_meta->take_journal();
    if (!blobs.empty()) {
      auto replayed = JournalReplay::run(blobs, *vol);
      if (!replayed.is_ok()) {
        return Status::error(replayed.err(), "refusing to mount: replaying the write journal: " +
                                                 replayed.status().message());
      }
      spdlog::info("write journal: {} blocks written back from {} journaled writes ({} stale)",
                   replayed->blocks_written, replayed->blobs, replayed->blocks_stale);
    }
  }
  return vol;
}

const char* disk_state_name(DiskState s) {
  switch (s) {
    case DiskState::kOnline:
      return "online";
    case DiskState::kFailed:
      return "failed";
    case DiskState::kDraining:
      return "draining";
    case DiskState::kRemoved:
      return "removed";
  }
  return "unknown";
}

DiskClass Volume::initial_class(const DiskConfig* dc, const Disk& disk, bool* detected) {
  *detected = dc == nullptr || dc->disk_class.empty();
  if (!*detected) return dc->disk_class == "hdd" ? DiskClass::kHdd : DiskClass::kSsd;
  return disk.rotational() ? DiskClass::kHdd : DiskClass::kSsd;
}

const char* disk_class_name(DiskClass c) {
  return c == DiskClass::kHdd ? "hdd" : "ssd";
}

uint64_t Volume::class_mask(DiskClass c) const {
  uint64_t m = 0;
  for (size_t i = 0; i < disk_count(); ++i)
    if (disk_class(i) == c) m |= uint64_t{1} << i;
  return m;
}

Status Volume::set_disk_class(size_t i, const std::string& cls) {
  if (i >= disk_count()) return Status::error(EINVAL, "no disk " + std::to_string(i));
  if (cls != "ssd" && cls != "hdd" && cls != "auto")
    return Status::error(EINVAL, "disk class must be ssd, hdd or auto, not '" + cls + "'");
  if (read_only()) return Status::error(EROFS, "a snapshot mount cannot change disk classes");
  std::lock_guard lk(m_config_mutex);
  auto cfg = VolumeConfig::load(m_dir);
  if (!cfg.is_ok()) return cfg.status();
  if (i >= cfg->disks.size()) return Status::error(EINVAL, "no disk " + std::to_string(i));
  cfg->disks[i].disk_class = cls == "auto" ? "" : cls;
  DFS_RETURN_IF_ERROR(cfg->save(m_dir));
  bool detected = false;
  DiskClass c = initial_class(&cfg->disks[i], *m_slots[i]->disk, &detected);
  m_slots[i]->disk_class = c;
  m_slots[i]->class_detected = detected;
  spdlog::info("disk {} is now class {}{}", i, disk_class_name(c), detected ? " (detected)" : "");
  return Status::ok();
}

void Volume::add_slot(std::unique_ptr<Disk> disk, const Superblock& sb) {
  auto slot = std::make_unique<Slot>();
  slot->disk = std::move(disk);
  slot->superblock = sb;
  {
    const size_t idx = m_count.load();
    const DiskConfig* dc = idx < m_config.disks.size() ? &m_config.disks[idx] : nullptr;
    bool detected = false;
    slot->disk_class = initial_class(dc, *slot->disk, &detected);
    slot->class_detected = detected;
  }
  slot->scheduler = std::make_unique<IoScheduler>(*slot->disk);
  size_t n = m_count.load();
  m_slots[n] = std::move(slot);
  m_count.store(n + 1, std::memory_order_release);
}

void Volume::mark_failed(size_t i, const std::string& why) {
  if (m_config.replicas <= 1 || i >= disk_count()) return;
  DiskState was = m_slots[i]->state.load();
  do {
    if (was == DiskState::kFailed || was == DiskState::kRemoved) return;
  } while (!m_slots[i]->state.compare_exchange_weak(was, DiskState::kFailed));
  {
    spdlog::error("disk {} ({}) marked failed: {}; serving from the other copies (degraded)", i,
                  m_slots[i]->disk->path(), why);
  }
}

void Volume::set_draining(size_t i, bool draining) {
  if (i >= disk_count()) return;
  DiskState want = draining ? DiskState::kOnline : DiskState::kDraining;
  m_slots[i]->state.compare_exchange_strong(want,
                                            draining ? DiskState::kDraining : DiskState::kOnline);
}

uint64_t Volume::writable_mask() const {
  uint64_t m = 0;
  for (size_t i = 0; i < disk_count(); ++i)
    if (disk_state(i) == DiskState::kOnline) m |= uint64_t{1} << i;
  return m;
}

size_t Volume::writable_count() const {
  return static_cast<size_t>(__builtin_popcountll(writable_mask()));
}

Result<uint32_t> Volume::add_disk(const std::string& path_in, uint64_t create_size, bool force) {
  namespace fs = std::filesystem;
  if (disk_count() >= kMaxDisks)
    return Status::error(ENOSPC, "a volume holds at most " + std::to_string(kMaxDisks) + " disks");
  const std::string path = fs::absolute(path_in).lexically_normal().string();
  const bool existed = fs::exists(path);
  auto disk = Disk::open(path, existed ? 0 : create_size);
  if (!disk.is_ok()) return disk.status();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::from_errno("cannot stat " + path);
  for (size_t i = 0; i < disk_count(); ++i) {
    struct stat other {};
    if (disk_state(i) != DiskState::kRemoved && ::stat(this->disk(i).path().c_str(), &other) == 0 &&
        other.st_dev == st.st_dev && other.st_ino == st.st_ino) {
      return Status::error(
          EEXIST, "disk " + path + " is already disk " + std::to_string(i) + " of this volume");
    }
  }
  DFS_RETURN_IF_ERROR(check_new_disk(path, *disk.value(), existed, force));
  if (Status held = disk.value()->hold_exclusive(); !held.is_ok()) return held;
  // The volume.toml on disk may carry settings saved since the mount.
  std::lock_guard lk(m_config_mutex);
  DFS_ASSIGN_OR_RETURN(auto cfg, VolumeConfig::load(m_dir));
  const uint32_t index = static_cast<uint32_t>(disk_count());
  if (cfg.disks.size() != index)
    return Status::error(EUCLEAN, VolumeConfig::file_path(m_dir) + " lists " +
                                      std::to_string(cfg.disks.size()) + " disks, the volume " +
                                      std::to_string(index));
  Superblock sb;
  sb.volume_uuid = m_config.volume_uuid;
  sb.disk_uuid = uuid_generate_random();
  sb.disk_index = index;
  sb.disk_count = index + 1;
  sb.disk_size = disk.value()->size() & ~uint64_t{Superblock::kBlockSize - 1};
  // Superblock first, durable, then the config that names the disk: a
  // crash in between leaves a disk no volume lists.
  DFS_RETURN_IF_ERROR(sb.write_to(*disk.value()));
  DFS_RETURN_IF_ERROR(disk.value()->sync());
  DiskConfig dc;
  dc.index = index;
  dc.uuid = sb.disk_uuid;
  dc.path = path;
  dc.size = sb.disk_size;
  cfg.disks.push_back(dc);
  DFS_RETURN_IF_ERROR(cfg.save(m_dir));
  m_config.disks.push_back(dc);
  add_slot(std::move(disk).value(), sb);
  spdlog::info("disk {} added: {} ({} MiB)", index, path, sb.disk_size >> 20);
  return index;
}

Status Volume::finish_remove(size_t i) {
  std::unique_lock lk(m_config_mutex);
  DFS_ASSIGN_OR_RETURN(auto cfg, VolumeConfig::load(m_dir));
  if (i >= cfg.disks.size()) return Status::error(EINVAL, "no disk " + std::to_string(i));
  cfg.disks[i].removed = true;
  DFS_RETURN_IF_ERROR(cfg.save(m_dir));
  lk.unlock();
  m_config.disks[i].removed = true;
  m_slots[i]->state = DiskState::kRemoved;
  // Nothing of the volume is left on it: without its superblock the disk
  // can be put to use elsewhere without --force.
  std::string zeros(Superblock::kSize, '\0');
  Status wiped = m_slots[i]->disk->write_at(zeros.data(), zeros.size(), 0);
  if (wiped.is_ok()) wiped = m_slots[i]->disk->sync();
  if (!wiped.is_ok())
    spdlog::warn("disk {} removed, but its superblock could not be wiped: {}", i,
                 wiped.to_string());
  spdlog::info("disk {} ({}) removed from the volume", i, m_slots[i]->disk->path());
  return Status::ok();
}

bool Volume::degraded() const {
  for (size_t i = 0; i < disk_count(); ++i)
    if (disk_state(i) == DiskState::kFailed) return true;
  return false;
}

}  // namespace dynamicfs

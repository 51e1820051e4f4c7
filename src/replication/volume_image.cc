// VolumeImage: snapshot torrents (ranges, metadata pack, description) and
// the receiving side (target directory, unpacking, volume.toml).
#include "src/replication/volume_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "metadata/extent_record.h"
#include "metadata/key_codec.h"
#include "metadata/meta_store.h"
#include "src/common/block_size.h"
#include "src/common/coding.h"
#include "src/common/file_sync.h"
#include "src/extent/volume.h"
#include "src/extent/volume_config.h"
#include "src/replication/image_target.h"

namespace dynamicfs {

namespace {

namespace fs = std::filesystem;

constexpr char kPackMagic[] = "DFSPACK1";
constexpr const char* kPackName = "image.pack";  // in the snapshot's directory
constexpr size_t kMaxPackFiles = 100000;
constexpr uint64_t kPackAlign = 16384;

std::string incoming_dir(const std::string& dir) {
  return dir + "/.incoming";
}

// Creates PATH sparse at SIZE, or resizes an existing regular file to it.
Status sized_file(const std::string& path, uint64_t size, bool exact) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::from_errno("cannot create " + path);
  struct stat st {};
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = Status::from_errno("cannot stat " + path);
  } else if (S_ISREG(st.st_mode) &&
             (exact ? static_cast<uint64_t>(st.st_size) != size
                    : static_cast<uint64_t>(st.st_size) < size) &&
             ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    s = Status::from_errno("cannot size " + path);
  }
  ::close(fd);
  return s;
}

std::string uuid_json(const Uuid& u) {
  return uuid_to_string(u);
}

}  // namespace

std::string VolumeImageSpec::to_json() const {
  nlohmann::json disks_j = nlohmann::json::array();
  for (const auto& d : disks) {
    disks_j.push_back({{"index", d.index},
                       {"uuid", uuid_json(d.uuid)},
                       {"size", d.size},
                       {"removed", d.removed}});
  }
  return nlohmann::json{{"volume_uuid", uuid_json(volume_uuid)},
                        {"snapshot", snapshot},
                        {"snapshot_id", snapshot_id},
                        {"snapshot_created_ns", snapshot_created_ns},
                        {"replicas", replicas},
                        {"disks", disks_j},
                        {"pack_size", pack_size},
                        {"settings", settings}}
      .dump();
}

Result<VolumeImageSpec> VolumeImageSpec::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& what) {
    return Status::error(EINVAL, "malformed volume description in the torrent: " + what);
  };
  if (!j.is_object()) return bad("not a JSON object");
  VolumeImageSpec s;
  try {
    auto vu = uuid_from_string(j.at("volume_uuid").get<std::string>());
    if (!vu.is_ok()) return bad("volume_uuid");
    s.volume_uuid = vu.value();
    s.snapshot = j.at("snapshot").get<std::string>();
    s.snapshot_id = j.at("snapshot_id").get<uint64_t>();
    s.snapshot_created_ns = j.value("snapshot_created_ns", int64_t{0});
    s.replicas = j.at("replicas").get<uint32_t>();
    s.pack_size = j.at("pack_size").get<uint64_t>();
    s.settings = j.value("settings", std::map<std::string, std::string>{});
    for (const auto& d : j.at("disks")) {
      DiskEntry e;
      e.index = d.at("index").get<uint32_t>();
      auto du = uuid_from_string(d.at("uuid").get<std::string>());
      if (!du.is_ok()) return bad("disk uuid");
      e.uuid = du.value();
      e.size = d.at("size").get<uint64_t>();
      e.removed = d.value("removed", false);
      if (e.index != s.disks.size() || e.index >= VolumeImage::kMetaRegion)
        return bad("disk indexes");
      s.disks.push_back(e);
    }
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  if (s.disks.empty() || s.replicas == 0) return bad("no disks");
  DFS_RETURN_IF_ERROR(SnapshotCatalog::check_name(s.snapshot));
  return s;
}

std::vector<ByteRange> VolumeImage::split_at(const std::vector<ByteRange>& ranges, uint64_t piece) {
  std::vector<ByteRange> out;
  for (const auto& r : ranges) {
    uint64_t pos = r.offset;
    while (pos < r.end()) {
      uint64_t cut = std::min(r.end(), (pos / piece + 1) * piece);
      out.push_back({pos, cut - pos});
      pos = cut;
    }
  }
  return out;
}

Status VolumeImage::pack(const std::string& from_dir, const std::string& out_file) {
  std::vector<std::pair<std::string, uint64_t>> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(from_dir, ec)) {
    if (!e.is_regular_file()) continue;
    files.emplace_back(e.path().filename().string(), e.file_size());
  }
  if (ec) return Status::error(ec.value(), "cannot list " + from_dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::string head(kPackMagic, 8);
  put_le<uint32_t>(&head, static_cast<uint32_t>(files.size()));
  for (const auto& [name, size] : files) {
    put_le<uint16_t>(&head, static_cast<uint16_t>(name.size()));
    head += name;
    put_le<uint64_t>(&head, size);
  }
  std::string tmp = out_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    uint64_t total = head.size();
    for (const auto& [name, size] : files) {
      std::ifstream in(from_dir + "/" + name, std::ios::binary);
      if (!in) return Status::error(EIO, "cannot read " + from_dir + "/" + name);
      if (size > 0) out << in.rdbuf();  // (an empty one would set failbit)
      total += size;
    }
    // Zeros up to a whole number of 16 KiB blocks: torrent ranges end on
    // whole blocks.
    out << std::string((kPackAlign - total % kPackAlign) % kPackAlign, '\0');
    out.flush();
    if (!out) return Status::error(EIO, "cannot write " + tmp);
  }
  DFS_RETURN_IF_ERROR(sync_path(tmp, false));
  if (::rename(tmp.c_str(), out_file.c_str()) != 0)
    return Status::from_errno("cannot rename " + tmp);
  return Status::ok();
}

Status VolumeImage::unpack(const std::string& pack_file, const std::string& out_dir) {
  std::ifstream in(pack_file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bad = [&](const std::string& what) {
    return Status::error(EUCLEAN, "metadata pack " + pack_file + ": " + what);
  };
  if (data.size() < 12 || data.compare(0, 8, kPackMagic, 8) != 0) return bad("bad magic");
  size_t pos = 8;
  const uint32_t count = get_le<uint32_t>(data.data() + pos);
  pos += 4;
  if (count > kMaxPackFiles) return bad("too many files");
  std::vector<std::pair<std::string, uint64_t>> files;
  for (uint32_t i = 0; i < count; ++i) {
    if (pos + 2 > data.size()) return bad("truncated header");
    uint16_t len = get_le<uint16_t>(data.data() + pos);
    pos += 2;
    if (pos + len + 8 > data.size()) return bad("truncated header");
    std::string name = data.substr(pos, len);
    pos += len;
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      return bad("bad file name");
    files.emplace_back(name, get_le<uint64_t>(data.data() + pos));
    pos += 8;
  }
  std::error_code ec;
  fs::remove_all(out_dir, ec);
  fs::create_directories(out_dir, ec);
  if (ec) return Status::error(ec.value(), "cannot create " + out_dir);
  for (const auto& [name, size] : files) {
    if (size > data.size() - pos) return bad("truncated file " + name);
    std::string path = out_dir + "/" + name;
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(data.data() + pos, static_cast<std::streamsize>(size));
      out.flush();
      if (!out) return Status::error(EIO, "cannot write " + path);
    }
    DFS_RETURN_IF_ERROR(sync_path(path, false));
    pos += size;
  }
  if (data.find_first_not_of('\0', pos) != std::string::npos) return bad("trailing bytes");
  return sync_path(out_dir, true);
}

Result<ImageTorrentInfo> VolumeImage::create(const std::string& volume_dir, const std::string& name,
                                             int piece_size, const std::string& out,
                                             const std::function<void(int, int)>& progress,
                                             VolumeImageSpec* spec_out) {
  DFS_ASSIGN_OR_RETURN(auto hold, SnapshotCatalog::hold(volume_dir, name));
  DFS_ASSIGN_OR_RETURN(SnapshotInfo info, SnapshotCatalog::find(volume_dir, name));
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(volume_dir));
  const std::string snap_dir = SnapshotCatalog::dir(volume_dir, name);
  VolumeImageSpec spec;
  spec.volume_uuid = cfg.volume_uuid;
  spec.snapshot = name;
  spec.snapshot_id = info.id;
  spec.snapshot_created_ns = info.created_ns;
  spec.replicas = cfg.replicas;
  spec.settings = cfg.settings;

  // Per disk: the superblock area plus every extent copy of the snapshot.
  std::vector<std::vector<ByteRange>> used(cfg.disks.size());
  DFS_ASSIGN_OR_RETURN(auto refs, SnapshotCatalog::extent_refs(volume_dir, name));
  for (const auto& r : refs) {
    if (r.disk >= used.size() || cfg.disks[r.disk].removed) {
      return Status::error(EUCLEAN, "snapshot " + name + " has data on disk " +
                                        std::to_string(r.disk) + ", which the volume lacks");
    }
    used[r.disk].push_back({r.offset, r.length});
  }
  std::map<uint32_t, std::string> regions;
  std::vector<ByteRange> ranges;
  for (const auto& dc : cfg.disks) {
    VolumeImageSpec::DiskEntry e{dc.index, dc.uuid, dc.size, dc.removed};
    if (!dc.removed) {
      DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(dc.path));
      DFS_ASSIGN_OR_RETURN(Superblock sb, Superblock::read_from(*disk));
      if (sb.volume_uuid != cfg.volume_uuid || sb.disk_uuid != dc.uuid)
        return Status::error(EXDEV, "disk " + dc.path + " is not disk " + std::to_string(dc.index) +
                                        " of this volume");
      e.size = sb.disk_size;
      used[dc.index].push_back({0, sb.data_start});
      auto norm = UsedRanges::normalize(used[dc.index], kBlockSize, sb.disk_size);
      for (const auto& r : split_at(norm, static_cast<uint64_t>(piece_size)))
        ranges.push_back({ImageTarget::region_base(dc.index) + r.offset, r.length});
      regions[dc.index] = dc.path;
    }
    spec.disks.push_back(e);
  }
  // The metadata, packed once per snapshot (a snapshot never changes).
  const std::string pack_path = snap_dir + "/" + kPackName;
  if (::access(pack_path.c_str(), R_OK) != 0)
    DFS_RETURN_IF_ERROR(pack(SnapshotCatalog::meta_dir(snap_dir), pack_path));
  std::error_code ec;
  spec.pack_size = fs::file_size(pack_path, ec);
  if (ec) return Status::error(ec.value(), "cannot stat " + pack_path);
  for (const auto& r : split_at({{0, spec.pack_size}}, static_cast<uint64_t>(piece_size)))
    ranges.push_back({ImageTarget::region_base(kMetaRegion) + r.offset, r.length});
  regions[kMetaRegion] = pack_path;

  ImageTorrentOptions io;
  io.disk = volume_dir;
  io.ranges = std::move(ranges);
  io.piece_size = piece_size;
  io.name = fs::path(volume_dir).filename().string() + "@" + name;
  io.comment = "dynamicfs volume snapshot";
  io.progress = progress;
  io.regions = regions;
  io.volume_spec = spec.to_json();
  auto result = ImageTorrent::create(io, out);
  if (result.is_ok() && spec_out != nullptr) *spec_out = spec;
  return result;
}

Result<std::map<uint32_t, std::string>> VolumeImage::source_regions(
    const std::string& volume_dir, const VolumeImageSpec& spec,
    std::unique_ptr<SnapshotHold>* hold) {
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(volume_dir));
  if (cfg.volume_uuid != spec.volume_uuid) {
    return Status::error(EXDEV, volume_dir + " is volume " + uuid_to_string(cfg.volume_uuid) +
                                    ", the torrent is of volume " +
                                    uuid_to_string(spec.volume_uuid));
  }
  DFS_ASSIGN_OR_RETURN(*hold, SnapshotCatalog::hold(volume_dir, spec.snapshot));
  DFS_ASSIGN_OR_RETURN(SnapshotInfo info, SnapshotCatalog::find(volume_dir, spec.snapshot));
  if (info.id != spec.snapshot_id ||
      (spec.snapshot_created_ns != 0 && info.created_ns != spec.snapshot_created_ns)) {
    return Status::error(ESTALE, "snapshot " + spec.snapshot + " of " + volume_dir +
                                     " is not the one the torrent was made from (deleted and "
                                     "created again); make a new torrent");
  }
  std::map<uint32_t, std::string> regions;
  for (const auto& d : spec.disks) {
    if (d.removed) continue;
    if (d.index >= cfg.disks.size() || cfg.disks[d.index].removed)
      return Status::error(ENODEV, "disk " + std::to_string(d.index) + " has left the volume");
    regions[d.index] = cfg.disks[d.index].path;
  }
  regions[kMetaRegion] = SnapshotCatalog::dir(volume_dir, spec.snapshot) + "/" + kPackName;
  return regions;
}

Result<std::map<uint32_t, std::string>> VolumeImage::prepare_target(
    const std::string& dir, const VolumeImageSpec& spec, bool* fresh,
    std::vector<std::unique_ptr<Disk>>* holds) {
  std::error_code ec;
  const bool exists = fs::exists(VolumeConfig::file_path(dir), ec);
  *fresh = !exists;
  std::map<uint32_t, std::string> regions;
  if (exists) {
    DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(dir));
    if (cfg.volume_uuid != spec.volume_uuid) {
      return Status::error(EXDEV, dir + " holds volume " + uuid_to_string(cfg.volume_uuid) +
                                      "; the torrent is of volume " +
                                      uuid_to_string(spec.volume_uuid) + ". Nothing was written");
    }
    if (cfg.disks.size() != spec.disks.size())
      return Status::error(EXDEV, dir + " has a different set of disks than the image");
    for (const auto& d : spec.disks)
      if (!d.removed) regions[d.index] = cfg.disks[d.index].path;
  } else {
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
      return Status::error(ENOTEMPTY, dir + " exists, is not empty and holds no volume");
    fs::create_directories(dir, ec);
    if (ec) return Status::error(ec.value(), "cannot create " + dir + ": " + ec.message());
    for (const auto& d : spec.disks)
      if (!d.removed) regions[d.index] = dir + "/disk" + std::to_string(d.index) + ".img";
  }
  for (const auto& d : spec.disks) {
    if (d.removed) continue;
    DFS_RETURN_IF_ERROR(sized_file(regions[d.index], d.size, /*exact=*/false));
    DFS_ASSIGN_OR_RETURN(auto disk, Disk::open(regions[d.index]));
    if (disk->size() < d.size) {
      return Status::error(EFBIG, regions[d.index] + " has " + std::to_string(disk->size()) +
                                      " bytes, the image's disk " + std::to_string(d.index) +
                                      " has " + std::to_string(d.size));
    }
    Status held = disk->hold_exclusive();
    if (!held.is_ok()) {
      return Status::error(EBUSY, dir + " is in use (mounted or being fetched): " + held.message() +
                                      ". Unmount it first");
    }
    holds->push_back(std::move(disk));
  }
  fs::create_directories(incoming_dir(dir), ec);
  if (ec) return Status::error(ec.value(), "cannot create " + incoming_dir(dir));
  regions[kMetaRegion] = incoming_dir(dir) + "/meta.pack";
  DFS_RETURN_IF_ERROR(sized_file(regions[kMetaRegion], spec.pack_size, /*exact=*/true));
  return regions;
}

Status VolumeImage::finish_target(const std::string& dir, const VolumeImageSpec& spec) {
  const std::string in = incoming_dir(dir);
  const std::string fresh_meta = in + "/meta";
  DFS_RETURN_IF_ERROR(unpack(in + "/meta.pack", fresh_meta));
  {
    DFS_ASSIGN_OR_RETURN(auto meta, MetaStore::open_read_only(fresh_meta));
    DFS_ASSIGN_OR_RETURN(auto stored, meta->get(Cf::kVolume, KeyCodec::kVolumeUuid));
    if (!stored.has_value() || *stored != uuid_to_string(spec.volume_uuid))
      return Status::error(
          EXDEV, "the fetched metadata is not of volume " + uuid_to_string(spec.volume_uuid));
  }
  // The configuration: the local disk paths, the image's disks and copies.
  VolumeConfig cfg;
  std::error_code ec;
  if (fs::exists(VolumeConfig::file_path(dir), ec)) {
    DFS_ASSIGN_OR_RETURN(cfg, VolumeConfig::load(dir));
  } else {
    cfg.volume_uuid = spec.volume_uuid;
    cfg.settings = spec.settings;
    for (const auto& d : spec.disks) {
      DiskConfig dc;
      dc.index = d.index;
      dc.path = dir + "/disk" + std::to_string(d.index) + ".img";
      cfg.disks.push_back(dc);
    }
  }
  cfg.replicas = spec.replicas;
  for (const auto& d : spec.disks) {
    cfg.disks[d.index].uuid = d.uuid;
    cfg.disks[d.index].size = d.size;
    cfg.disks[d.index].removed = d.removed;
  }
  const std::string meta = Volume::meta_dir(dir);
  const std::string old = in + "/meta.old";
  fs::remove_all(old, ec);
  if (fs::exists(meta, ec) && ::rename(meta.c_str(), old.c_str()) != 0)
    return Status::from_errno("cannot move the old metadata aside");
  if (::rename(fresh_meta.c_str(), meta.c_str()) != 0)
    return Status::from_errno("cannot put the fetched metadata in place");
  DFS_RETURN_IF_ERROR(sync_path(dir, true));
  DFS_RETURN_IF_ERROR(cfg.save(dir));
  fs::create_directories(Volume::log_dir(dir), ec);
  fs::remove_all(old, ec);
  return Status::ok();
}

}  // namespace dynamicfs

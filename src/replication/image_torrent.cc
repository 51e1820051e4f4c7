// ImageTorrent: file_storage from ranges, hashing through RawDiskIo.
#include "src/replication/image_torrent.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_info.hpp>

#include "src/common/file_sync.h"
#include "src/replication/image_layout.h"
#include "src/replication/image_target.h"
#include "src/replication/raw_disk_io.h"

namespace dynamicfs {

Result<ImageTorrentInfo> ImageTorrent::create(const ImageTorrentOptions& o,
                                              const std::string& out_path) {
  if (o.piece_size < 16384 || (o.piece_size & (o.piece_size - 1)) != 0)
    return Status::error(EINVAL, "piece size must be a power of two of at least 16 KiB");
  DFS_ASSIGN_OR_RETURN(auto disk, o.regions.empty() ? ImageTarget::open_disk(o.disk, false)
                                                    : ImageTarget::open_regions(o.regions, false));
  std::string name = o.name.empty() ? std::filesystem::path(o.disk).filename().string() : o.name;
  if (name.empty()) name = "disk";
  lt::file_storage fs;
  ImageTorrentInfo info;
  for (const auto& r : o.ranges) {
    if (r.length == 0) continue;
    if (!disk->contains(r.offset, r.length)) {
      return Status::error(EINVAL, "range at " + ImageLayout::file_name(r.offset) +
                                       " reaches past the end of " + disk->describe(r.offset));
    }
    fs.add_file(name + "/" + ImageLayout::file_name(r.offset), static_cast<std::int64_t>(r.length));
    info.data_bytes += r.length;
    ++info.files;
  }
  if (info.files == 0)
    return Status::error(EINVAL, o.disk + ": nothing to include (no used ranges)");
  // The size of the one disk; a volume image records its disks elsewhere.
  const uint64_t disk_size = o.regions.empty() ? disk->region_size(0) : 0;
  disk.reset();

  // v1+v2 hybrid by default; a volume image, or one asked for v1 only, is v1
  // with files piece-aligned (pad files), as a hybrid torrent lays them out.
  lt::create_torrent t(fs, o.piece_size,
                       o.regions.empty() && !o.v1_only
                           ? lt::create_flags_t{}
                           : lt::create_torrent::v1_only | lt::create_torrent::canonical_files);
  t.set_creator("dynamicfs");
  if (!o.comment.empty()) t.set_comment(o.comment.c_str());
  lt::settings_pack sp;
  sp.set_int(lt::settings_pack::hashing_threads, 2);
  sp.set_int(lt::settings_pack::aio_threads, 2);
  int total = t.num_pieces();
  int done = 0;
  lt::error_code ec;
  RawDiskOptions ro;
  if (!o.regions.empty()) ro.open_target = ImageTarget::regions_opener(o.regions);
  lt::set_piece_hashes(
      t, o.disk, sp, RawDiskIo::constructor(ro),
      [&](lt::piece_index_t) {
        ++done;
        if (o.progress) o.progress(done, total);
      },
      ec);
  if (ec)
    return Status::error(ec.value() ? ec.value() : EIO, "hashing " + o.disk + ": " + ec.message());
  std::vector<char> buf;
  try {
    lt::entry e = t.generate();
    if (disk_size > 0) e[kDiskSizeKey] = static_cast<std::int64_t>(disk_size);
    if (!o.volume_spec.empty()) e[kVolumeKey] = o.volume_spec;
    lt::bencode(std::back_inserter(buf), e);
  } catch (const std::exception& e) {
    return Status::error(EINVAL, std::string("cannot generate the torrent: ") + e.what());
  }
  DFS_RETURN_IF_ERROR(write_file_atomically(out_path, std::string_view(buf.data(), buf.size())));
  info.pieces = total;
  lt::torrent_info ti(buf, lt::from_span);
  info.info_hash_v1 = lt::aux::to_hex(ti.info_hashes().v1);
  info.info_hash_v2 = lt::aux::to_hex(ti.info_hashes().v2);
  return info;
}

namespace {
std::vector<char> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

uint64_t ImageTorrent::recorded_disk_size(const std::string& torrent_path) {
  std::vector<char> buf = read_whole(torrent_path);
  lt::error_code ec;
  lt::bdecode_node root = lt::bdecode(buf, ec);
  if (ec || root.type() != lt::bdecode_node::dict_t) return 0;
  std::int64_t v = root.dict_find_int_value(kDiskSizeKey, 0);
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

std::string ImageTorrent::recorded_volume_spec(const std::string& torrent_path) {
  std::vector<char> buf = read_whole(torrent_path);
  lt::error_code ec;
  lt::bdecode_node root = lt::bdecode(buf, ec);
  if (ec || root.type() != lt::bdecode_node::dict_t) return "";
  return std::string(root.dict_find_string_value(kVolumeKey));
}

}  // namespace dynamicfs

// UsedRanges: finds the used parts of a disk from the structures that own it
// (a dynamicfs volume's extent map, an ext2/3/4 block bitmap), so an image of
// a disk need not carry its free space.
#include "src/replication/used_ranges.h"

#include <ext2fs/ext2fs.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "metadata/extent_record.h"
#include "metadata/key_codec.h"
#include "metadata/meta_store.h"
#include "src/extent/volume.h"
#include "src/extent/volume_config.h"
#include "src/io/disk.h"
#include "src/io/superblock.h"

namespace dynamicfs {

namespace {

constexpr uint64_t kExtMagicOffset = 1080;  // 1024 (superblock) + 56 (s_magic)
constexpr uint16_t kExtMagic = 0xEF53;

// The text of a libext2fs error code (its com_err table is registered once).
std::string ext_message(errcode_t code) {
  static std::once_flag once;
  std::call_once(once, [] { initialize_ext2_error_table(); });
  return error_message(code);
}

// A libext2fs error as a Status: small codes are errno values, the others
// are libext2fs's own.
Status ext_status(errcode_t code, const std::string& what) {
  int err = code > 0 && code < 4096 ? static_cast<int>(code) : EIO;
  return Status::error(err, what + ": " + ext_message(code));
}

// Closes the filesystem handle on every path out of ext_used.
class ExtHandle {
 public:
  ExtHandle() = default;
  ~ExtHandle() {
    if (m_fs != nullptr) ext2fs_close_free(&m_fs);
  }
  ExtHandle(const ExtHandle&) = delete;
  ExtHandle& operator=(const ExtHandle&) = delete;
  ext2_filsys* out() { return &m_fs; }
  ext2_filsys get() const { return m_fs; }

 private:
  ext2_filsys m_fs = nullptr;
};

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<uint64_t>::max() : r;
}

}  // namespace

const char* disk_content_name(DiskContent c) {
  switch (c) {
    case DiskContent::kDynamicfs:
      return "dynamicfs";
    case DiskContent::kExt:
      return "ext2/3/4";
    case DiskContent::kUnknown:
      return "unknown";
  }
  return "?";
}

Result<DiskContent> UsedRanges::detect(const std::string& disk_path) {
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(disk_path));
  std::string head(std::min<uint64_t>(disk->size(), Superblock::kSize), '\0');
  DFS_RETURN_IF_ERROR(disk->read_at(head.data(), head.size(), 0));
  if (Superblock::has_magic(head)) return DiskContent::kDynamicfs;
  if (head.size() >= kExtMagicOffset + 2) {
    auto lo = static_cast<uint8_t>(head[kExtMagicOffset]);
    auto hi = static_cast<uint8_t>(head[kExtMagicOffset + 1]);
    if ((lo | (hi << 8)) == kExtMagic) return DiskContent::kExt;
  }
  return DiskContent::kUnknown;
}

Result<std::vector<ByteRange>> UsedRanges::full(const std::string& disk_path) {
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(disk_path));
  std::vector<ByteRange> out;
  if (disk->size() > 0) out.push_back({0, disk->size()});
  return out;
}

Result<std::vector<ByteRange>> UsedRanges::ext_used(const std::string& disk_path) {
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(disk_path));

  int mount_flags = 0;
  errcode_t rc = ext2fs_check_if_mounted(disk_path.c_str(), &mount_flags);
  if (rc != 0) return ext_status(rc, "cannot tell whether " + disk_path + " is mounted");
  if ((mount_flags & EXT2_MF_MOUNTED) != 0 && (mount_flags & EXT2_MF_READONLY) == 0) {
    return Status::error(EBUSY, disk_path +
                                    " is mounted read-write; its block bitmap on disk is not "
                                    "current (unmount it or mount it read-only first)");
  }

  ExtHandle fs;
  rc = ext2fs_open(disk_path.c_str(), EXT2_FLAG_64BITS, 0, 0, unix_io_manager, fs.out());
  if (rc == EXT2_ET_BAD_MAGIC || rc == EXT2_ET_SB_CSUM_INVALID ||
      rc == EXT2_ET_CORRUPT_SUPERBLOCK) {
    return Status::error(
        EINVAL, disk_path + " holds no valid ext2/3/4 filesystem (" + ext_message(rc) + ")");
  }
  if (rc != 0) return ext_status(rc, "cannot open ext2/3/4 filesystem on " + disk_path);
  ext2_super_block* super = fs.get()->super;
  if (ext2fs_has_feature_journal_needs_recovery(super)) {
    return Status::error(EUCLEAN, disk_path +
                                      ": the ext journal needs recovery, so the block bitmap "
                                      "may be stale (run e2fsck or mount it once first)");
  }
  if ((super->s_state & EXT2_ERROR_FS) != 0) {
    return Status::error(EUCLEAN, disk_path +
                                      ": the ext filesystem is marked as having errors, so the "
                                      "block bitmap may be wrong (run e2fsck first)");
  }
  rc = ext2fs_read_block_bitmap(fs.get());
  if (rc != 0) return ext_status(rc, "cannot read the block bitmap of " + disk_path);

  const uint64_t block_size = fs.get()->blocksize;
  const blk64_t first = super->s_first_data_block;
  const blk64_t count = ext2fs_blocks_count(super);
  std::vector<ByteRange> ranges;
  // Blocks before s_first_data_block (block 0 with 1 KiB blocks) are not in
  // the bitmap but hold the boot area; the superblock itself is in `first`.
  ranges.push_back({0, (first + 1) * block_size});
  ext2fs_block_bitmap map = fs.get()->block_map;
  blk64_t next = first;
  while (count > 0 && next < count) {
    blk64_t used = 0;
    rc = ext2fs_find_first_set_block_bitmap2(map, next, count - 1, &used);
    if (rc == ENOENT) break;
    if (rc != 0) return ext_status(rc, "cannot search the block bitmap of " + disk_path);
    blk64_t unused = 0;
    rc = ext2fs_find_first_zero_block_bitmap2(map, used, count - 1, &unused);
    if (rc == ENOENT) {
      unused = count;
    } else if (rc != 0) {
      return ext_status(rc, "cannot search the block bitmap of " + disk_path);
    }
    ranges.push_back({used * block_size, (unused - used) * block_size});
    next = unused;
  }
  // A filesystem larger than its device (a truncated image) keeps only what
  // the device holds.
  return normalize(std::move(ranges), 1, disk->size());
}

Result<std::vector<ByteRange>> UsedRanges::dynamicfs_used(const std::string& disk_path,
                                                          const std::string& volume_dir) {
  DFS_ASSIGN_OR_RETURN(auto disk, Disk::open_read_only(disk_path));
  DFS_ASSIGN_OR_RETURN(Superblock sb, Superblock::read_from(*disk));
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(volume_dir));
  if (sb.volume_uuid != cfg.volume_uuid) {
    return Status::error(EXDEV, "disk " + disk_path + " belongs to another volume (" +
                                    uuid_to_string(sb.volume_uuid) + "), not to " + volume_dir +
                                    " (" + uuid_to_string(cfg.volume_uuid) + ")");
  }
  auto listed = std::find_if(cfg.disks.begin(), cfg.disks.end(),
                             [&](const DiskConfig& dc) { return dc.uuid == sb.disk_uuid; });
  if (listed == cfg.disks.end() || listed->index != sb.disk_index) {
    return Status::error(EXDEV, "disk " + disk_path + " (disk " + uuid_to_string(sb.disk_uuid) +
                                    " at index " + std::to_string(sb.disk_index) +
                                    ") is not listed as such in " +
                                    VolumeConfig::file_path(volume_dir));
  }

  DFS_ASSIGN_OR_RETURN(auto meta, MetaStore::open_read_only(Volume::meta_dir(volume_dir)));
  DFS_ASSIGN_OR_RETURN(auto stored, meta->get(Cf::kVolume, KeyCodec::kVolumeUuid));
  if (!stored.has_value() || *stored != uuid_to_string(cfg.volume_uuid)) {
    return Status::error(EXDEV, "the metadata store of " + volume_dir +
                                    " does not belong to volume " +
                                    uuid_to_string(cfg.volume_uuid));
  }

  std::vector<ByteRange> ranges;
  ranges.push_back({0, sb.data_start});
  auto it = meta->iterator(Cf::kExtents);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.size() != 16) {
      return Status::error(EUCLEAN, "malformed extent key in " + volume_dir);
    }
    auto rec = ExtentRecord::decode(std::string_view(it->value().data(), it->value().size()));
    if (!rec.is_ok()) {
      return Status::error(EUCLEAN, "malformed extent record of inode " +
                                        std::to_string(KeyCodec::extent_key_ino(key)) + " in " +
                                        volume_dir + ": " + rec.status().message());
    }
    // The space the record holds on this disk: a copy, or a whole stripe
    // unit (every window of a stripe references all of it).
    bool outside = false;
    rec->for_each_space([&](uint32_t disk, uint64_t offset, uint64_t length) {
      if (disk != sb.disk_index) return;
      outside = outside || offset < sb.data_start || saturating_add(offset, length) > sb.disk_size;
      ranges.push_back({offset, length});
    });
    if (outside) {
      return Status::error(
          EUCLEAN, "extent of inode " + std::to_string(KeyCodec::extent_key_ino(key)) +
                       " at file offset " + std::to_string(KeyCodec::extent_key_offset(key)) +
                       " lies outside the data area of disk " + disk_path);
    }
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "reading the extents of " + volume_dir));
  return normalize(std::move(ranges), 1, sb.disk_size);
}

std::vector<ByteRange> UsedRanges::normalize(std::vector<ByteRange> ranges, uint64_t align,
                                             uint64_t disk_size) {
  if (align == 0) align = 1;
  std::vector<ByteRange> clipped;
  clipped.reserve(ranges.size());
  for (const ByteRange& r : ranges) {
    // Clip first, so a range wholly past the end cannot be widened back in.
    uint64_t end = std::min(saturating_add(r.offset, r.length), disk_size);
    if (r.offset >= end) continue;
    uint64_t begin = r.offset - r.offset % align;
    if (end % align != 0) end = std::min(saturating_add(end, align - end % align), disk_size);
    clipped.push_back({begin, end - begin});
  }
  std::sort(clipped.begin(), clipped.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  std::vector<ByteRange> out;
  for (const ByteRange& r : clipped) {
    if (!out.empty() && r.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), r.end()) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

uint64_t UsedRanges::total_bytes(const std::vector<ByteRange>& ranges) {
  uint64_t total = 0;
  for (const ByteRange& r : ranges) total += r.length;
  return total;
}

}  // namespace dynamicfs

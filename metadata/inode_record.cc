// InodeRecord encoding: a version byte, then fixed-width little-endian fields.
#include "metadata/inode_record.h"

#include "src/common/block_size.h"
#include "src/common/coding.h"

namespace dynamicfs {

namespace {
void put_ts(std::string* out, const Timestamp& t) {
  put_le<int64_t>(out, t.sec);
  put_le<uint32_t>(out, t.nsec);
}
Timestamp get_ts(LeReader* r) {
  Timestamp t;
  t.sec = r->get<int64_t>();
  t.nsec = r->get<uint32_t>();
  return t;
}
}  // namespace

std::string InodeRecord::encode() const {
  std::string out;
  out.reserve(112);
  put_le<uint8_t>(&out, kVersion);
  put_le<uint32_t>(&out, mode);
  put_le<uint32_t>(&out, uid);
  put_le<uint32_t>(&out, gid);
  put_le<uint32_t>(&out, nlink);
  put_le<uint64_t>(&out, size);
  put_le<uint64_t>(&out, alloc_bytes);
  put_le<uint64_t>(&out, rdev);
  put_le<uint64_t>(&out, generation);
  put_le<uint64_t>(&out, parent);
  put_ts(&out, atime);
  put_ts(&out, mtime);
  put_ts(&out, ctime);
  put_ts(&out, crtime);
  if (!reserve_ranges.empty()) {
    put_le<uint64_t>(&out, reserved_bytes);
    put_le<uint32_t>(&out, reserve_copies);
    put_le<uint32_t>(&out, static_cast<uint32_t>(reserve_ranges.size()));
    for (const auto& [off, len] : reserve_ranges) {
      put_le<uint64_t>(&out, off);
      put_le<uint64_t>(&out, len);
    }
  }
  return out;
}

Result<InodeRecord> InodeRecord::decode(uint64_t ino, std::string_view value) {
  LeReader r(value);
  if (r.get<uint8_t>() != kVersion)
    return Status::error(EUCLEAN, "inode " + std::to_string(ino) + ": unknown record version");
  InodeRecord rec;
  rec.ino = ino;
  rec.mode = r.get<uint32_t>();
  rec.uid = r.get<uint32_t>();
  rec.gid = r.get<uint32_t>();
  rec.nlink = r.get<uint32_t>();
  rec.size = r.get<uint64_t>();
  rec.alloc_bytes = r.get<uint64_t>();
  rec.rdev = r.get<uint64_t>();
  rec.generation = r.get<uint64_t>();
  rec.parent = r.get<uint64_t>();
  rec.atime = get_ts(&r);
  rec.mtime = get_ts(&r);
  rec.ctime = get_ts(&r);
  rec.crtime = get_ts(&r);
  if (!r.ok()) return Status::error(EUCLEAN, "inode " + std::to_string(ino) + ": truncated record");
  if (r.remaining() > 0) {
    rec.reserved_bytes = r.get<uint64_t>();
    rec.reserve_copies = r.get<uint32_t>();
    const uint32_t n = r.get<uint32_t>();
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      const uint64_t off = r.get<uint64_t>();
      const uint64_t len = r.get<uint64_t>();
      rec.reserve_ranges.emplace_back(off, len);
    }
    if (!r.ok() || r.remaining() != 0)
      return Status::error(EUCLEAN, "inode " + std::to_string(ino) + ": bad reservation");
  }
  return rec;
}

void InodeRecord::to_stat(struct stat* st) const {
  *st = {};
  st->st_ino = ino;
  st->st_mode = mode;
  st->st_uid = uid;
  st->st_gid = gid;
  st->st_nlink = nlink;
  st->st_size = static_cast<off_t>(size);
  st->st_blocks = static_cast<blkcnt_t>((alloc_bytes + reserved_bytes) / 512);
  st->st_blksize = kBlockSize;
  st->st_rdev = rdev;
  st->st_atim = {atime.sec, static_cast<long>(atime.nsec)};
  st->st_mtim = {mtime.sec, static_cast<long>(mtime.nsec)};
  st->st_ctim = {ctime.sec, static_cast<long>(ctime.nsec)};
}

}  // namespace dynamicfs

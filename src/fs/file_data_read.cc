// FileData reads: a file's extent map (`dynamicfs locate`) and read().
//
// Reads take a snapshot of the extent map under a shared range lock, do the
// disk I/O with no lock held, and retry if the inode's generation moved (the
// space they read may have been freed and reused meanwhile). Nothing here
// commits metadata except the access time (Namespace::update_atime).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"
#include "src/fs/file_data.h"

namespace dynamicfs {

namespace {
using block_buffer::align_down;
using block_buffer::align_up;
}  // namespace

Result<InodeStore::ExtentList> FileData::extent_map(uint64_t ino) const {
  DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
  if (!rec.is_reg()) return InodeStore::ExtentList{};
  return m_inodes.extents_in(ino, 0, UINT64_MAX);
}

Status FileData::read_block(const BlockRef& ref, uint64_t block_off, char* out, uint64_t ino,
                            const ReaderTracker::Pin& pin) {
  if (ref.hole) {
    std::memset(out, 0, kBlock);
    return Status::ok();
  }
  uint64_t skip = block_off - ref.ext_file_off;
  return m_replicas.read(ref.ext, skip / kBlock, 1, out, IoClass::kHighRead, pin,
                         ReadSite{ino, block_off});
}

Result<size_t> FileData::read(uint64_t ino, uint64_t offset, size_t size, char* buf) {
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    // Pinned from before the extent map is read until after the last disk
    // read, so nothing this reader may touch is reused meanwhile.
    ReaderTracker::Pin pin = m_readers.enter();
    uint64_t gen = 0, file_size = 0;
    std::vector<std::pair<uint64_t, ExtentRecord>> pieces;
    {
      auto guard = m_locks.lock_range_shared(ino, align_down(offset), align_up(offset + size));
      DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
      if (rec.is_dir()) return Status::error(EISDIR);
      gen = rec.generation;
      file_size = rec.size;
      if (offset >= file_size || size == 0) return size_t{0};
      auto ext = m_inodes.extents_in(ino, align_down(offset),
                                     align_up(std::min<uint64_t>(offset + size, file_size)));
      if (!ext.is_ok()) return ext.status();
      pieces = std::move(ext).value();
    }
    uint64_t end = std::min<uint64_t>(offset + size, file_size);
    std::memset(buf, 0, end - offset);
    Status failure;
    for (const auto& [foff, e] : pieces) {
      uint64_t b0 = std::max(foff, align_down(offset));
      uint64_t b1 = std::min<uint64_t>(foff + e.length, align_up(end));
      if (b0 >= b1) continue;
      size_t n = b1 - b0;
      bool direct = b0 >= offset && b1 <= offset + size;
      block_buffer::Ptr tmp;
      char* dst = buf + (b0 - offset);
      if (!direct) {
        tmp = block_buffer::make(n);
        dst = tmp.get();
      }
      failure = m_replicas.read(e, (b0 - foff) / kBlock, n / kBlock, dst, IoClass::kNormalRead, pin,
                                ReadSite{ino, b0});
      if (!failure.is_ok()) break;
      if (!direct) {
        uint64_t c0 = std::max(b0, offset), c1 = std::min(b1, end);
        std::memcpy(buf + (c0 - offset), dst + (c0 - b0), c1 - c0);
      }
    }
    // Validate: if the file changed while we read, what we read may be stale
    // or reused space; try again.
    bool touch_atime = false;
    {
      auto guard = m_locks.lock_range_shared(ino, align_down(offset), align_up(offset + size));
      DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
      if (rec.generation != gen) continue;
      touch_atime = failure.is_ok() && m_namespace.atime_due(rec);
    }
    if (touch_atime) m_namespace.update_atime(ino);
    if (!failure.is_ok()) {
      spdlog::error("read failed: {}", failure.to_string());
      return failure;
    }
    if (!pieces.empty()) m_tiering.note_access(ino);  // hot for tiering
    return static_cast<size_t>(end - offset);
  }
  return Status::error(EAGAIN,
                       "read of inode " + std::to_string(ino) + " kept racing with writers");
}

}  // namespace dynamicfs

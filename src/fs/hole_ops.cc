// FileSystem holes: lseek SEEK_DATA/SEEK_HOLE, hole punching and
// fallocate, all from the extent map (a hole is a range with no extent).
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "metadata/key_codec.h"
#include "src/common/crash_point.h"
#include "src/extent/pending_space.h"
#include "src/fs/block_buffer.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

namespace {

// Zeroed edge blocks of a punch, at their file offsets, and their space.
struct FreshPieces {
  explicit FreshPieces(Allocator& alloc) : space(alloc) {}
  void committed() { space.committed(); }
  std::vector<std::pair<uint64_t, ExtentRecord>> placed;
  PendingSpace space;
};

}  // namespace

Result<uint64_t> FileSystem::seek_data_or_hole(uint64_t ino, uint64_t offset, int whence) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return Status::error(EINVAL);
  auto guard = m_locks.lock_shared(ino);
  auto rec = load_inode(ino);
  if (!rec.is_ok()) return rec.status();
  if (rec->is_dir()) return Status::error(EISDIR);
  const uint64_t size = rec->size;
  if (offset >= size) return Status::error(ENXIO);
  auto ext = extents_in(ino, offset, size);
  if (!ext.is_ok()) return ext.status();
  if (whence == SEEK_DATA) {
    // The first extent that reaches past OFFSET; holes have no extent.
    for (const auto& [off, e] : ext.value()) {
      if (off + e.length > offset) return std::min(std::max(off, offset), size);
    }
    return Status::error(ENXIO);  // only a hole up to the end of the file
  }
  // SEEK_HOLE: follow contiguous extents from OFFSET; the end of the file
  // counts as a hole.
  uint64_t pos = offset;
  for (const auto& [off, e] : ext.value()) {
    if (off > pos) break;
    pos = std::max(pos, off + e.length);
  }
  return std::min(pos, size);
}

Status FileSystem::punch_hole(uint64_t ino, uint64_t offset, uint64_t length) {
  // One commit: the partial edge blocks, rewritten with zeros (copy-on-
  // write), and the whole blocks between them, dropped. A crash leaves the
  // file as it was before the punch or as it is after it.
  // Whole blocks of the range: what the punch takes out of a reservation.
  const uint64_t punch_begin = block_buffer::align_up(offset);
  const uint64_t punch_end = std::max(punch_begin, block_buffer::align_down(offset + length));
  for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
    ReaderTracker::Pin pin = m_readers.enter();  // held over the edge reads
    uint64_t size = 0;
    BlockRef head_ref, tail_ref;
    uint64_t end = 0, h0 = 0, t1 = 0;
    bool head = false, tail = false;
    {
      auto guard = m_locks.lock_shared(ino);
      auto rec = load_inode(ino);
      if (!rec.is_ok()) return rec.status();
      if (rec->is_dir()) return Status::error(EISDIR);
      if (!rec->is_reg()) return Status::error(ENODEV);
      size = rec->size;
      // Past the end of the file there is no data to punch (the size
      // stays), only a reservation to give back.
      end = std::min(offset + length, size);
      if (offset >= end) {
        guard.release();
        return drop_reservation(ino, punch_begin, punch_end);
      }
      h0 = block_buffer::align_down(offset);
      t1 = block_buffer::align_up(end);
      head = offset != h0;
      tail = end != t1 && !(head && t1 - kBlock == h0);
      if (head) {
        auto r = block_ref(ino, h0);
        if (!r.is_ok()) return r.status();
        head_ref = std::move(r).value();
      }
      if (tail) {
        auto r = block_ref(ino, t1 - kBlock);
        if (!r.is_ok()) return r.status();
        tail_ref = std::move(r).value();
      }
    }
    // Edge blocks that hold data get a zeroed copy; holes stay holes.
    FreshPieces fresh(*m_alloc);
    auto zero_edge = [&](const BlockRef& ref, uint64_t block_off) -> Status {
      if (ref.hole) return Status::ok();
      block_buffer::Ptr block = block_buffer::make(kBlock);
      DFS_RETURN_IF_ERROR(read_block(ref, block_off, block.get(), ino, pin));
      uint64_t z0 = std::max(offset, block_off), z1 = std::min(end, block_off + kBlock);
      std::memset(block.get() + (z0 - block_off), 0, z1 - z0);
      std::vector<ExtentRecord> recs;
      auto policy = data_policy(ino);
      if (!policy.is_ok()) return policy.status();
      DFS_RETURN_IF_ERROR(write_new_extents(block.get(), kBlock, next_write_seq(), &recs,
                                            &fresh.space.ranges, policy.value()));
      for (auto& r : recs) fresh.placed.emplace_back(block_off, std::move(r));
      return Status::ok();
    };
    Status st = head ? zero_edge(head_ref, h0) : Status::ok();
    if (st.is_ok() && tail) st = zero_edge(tail_ref, t1 - kBlock);
    if (!st.is_ok()) {
      if (attempt < 3) continue;
      return st;
    }
    pin.release();

    auto guard = m_locks.lock_whole_file(ino);
    auto rec_r = load_inode(ino);
    if (!rec_r.is_ok()) return rec_r.status();
    InodeRecord rec = rec_r.value();
    bool changed = rec.size != size;
    if (!changed && head) {
      auto r = block_ref(ino, h0);
      changed = !r.is_ok() || !r->same_as(head_ref);
    }
    if (!changed && tail) {
      auto r = block_ref(ino, t1 - kBlock);
      changed = !r.is_ok() || !r->same_as(tail_ref);
    }
    if (changed) continue;
    rocksdb::WriteBatch b;
    std::vector<DiskRange> freed, shares;
    int64_t delta = 0;
    DFS_RETURN_IF_ERROR(remap(&b, ino, h0, t1, {}, 0, &freed, &delta, &shares));
    // After the remap in the batch, so these win over its deletes.
    auto* cf = m_volume->meta().handle(Cf::kExtents);
    for (const auto& [off, e] : fresh.placed) {
      b.Put(cf, KeyCodec::extent_key(ino, off), e.encode());
      delta += e.length;
    }
    rec.alloc_bytes = static_cast<uint64_t>(static_cast<int64_t>(rec.alloc_bytes) + delta);
    rec.mtime = rec.ctime = now_timestamp();
    ++rec.generation;
    DFS_ASSIGN_OR_RETURN(uint64_t unreserve,
                         release_reserved(&b, &rec, punch_begin, punch_end, /*cut=*/true));
    put_inode(&b, rec);
    crash_point("punch.before_commit");
    DFS_RETURN_IF_ERROR(commit_sharing(&b, shares));
    fresh.committed();
    guard.release();
    m_alloc->unreserve(unreserve);
    release_space(freed);
    return Status::ok();
  }
  return Status::error(EAGAIN,
                       "punch of inode " + std::to_string(ino) + " kept racing with writers");
}

Status FileSystem::fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
  DFS_RETURN_IF_ERROR(check_writable());
  if (length == 0) return Status::error(EINVAL);
  if (offset + length > kMaxFileSize || offset + length < offset) return Status::error(EFBIG);
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  const int other = mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
  if (other != 0) return Status::error(EOPNOTSUPP);  // collapse, insert, unshare
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (!keep_size || (mode & FALLOC_FL_ZERO_RANGE)) return Status::error(EOPNOTSUPP);
    return punch_hole(ino, offset, length);
  }
  auto rec = getattr(ino);
  if (!rec.is_ok()) return rec.status();
  if (rec->is_dir()) return Status::error(EISDIR);
  if (!rec->is_reg()) return Status::error(ENODEV);
  // Zeros are holes here: ZERO_RANGE frees the range's blocks and zeroes
  // the edges. Either way the holes of the range are then reserved, so
  // writing into it never fails with ENOSPC (reserve_ops.cc).
  if (mode & FALLOC_FL_ZERO_RANGE) DFS_RETURN_IF_ERROR(punch_hole(ino, offset, length));
  DFS_RETURN_IF_ERROR(
      reserve_range(ino, offset & ~(kBlock - 1), (offset + length + kBlock - 1) & ~(kBlock - 1)));
  if (!keep_size && offset + length > rec->size) {
    InodeRecord out;
    return truncate(ino, offset + length, &out);
  }
  return Status::ok();
}

}  // namespace dynamicfs

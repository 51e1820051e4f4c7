// FileData holes: lseek SEEK_DATA/SEEK_HOLE, hole punching and
// fallocate, all from the extent map (a hole is a range with no extent).
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"
#include "src/fs/file_data.h"

namespace dynamicfs {

Result<uint64_t> FileData::seek_data_or_hole(uint64_t ino, uint64_t offset, int whence) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return Status::error(EINVAL);
  auto guard = m_locks.lock_shared(ino);
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  if (rec.is_dir()) return Status::error(EISDIR);
  const uint64_t size = rec.size;
  if (offset >= size) return Status::error(ENXIO);
  DFS_ASSIGN_OR_RETURN(auto ext, m_inodes.extents_in(ino, offset, size));
  if (whence == SEEK_DATA) {
    // The first extent that reaches past OFFSET; holes have no extent.
    for (const auto& [off, e] : ext) {
      if (off + e.length > offset) return std::min(std::max(off, offset), size);
    }
    return Status::error(ENXIO);  // only a hole up to the end of the file
  }
  // SEEK_HOLE: follow contiguous extents from OFFSET; the end of the file
  // counts as a hole.
  uint64_t pos = offset;
  for (const auto& [off, e] : ext) {
    if (off > pos) break;
    pos = std::max(pos, off + e.length);
  }
  return std::min(pos, size);
}

Status FileData::punch_hole(uint64_t ino, uint64_t offset, uint64_t length) {
  // One commit: the partial edge blocks, rewritten with zeros (copy-on-
  // write), and the whole blocks between them, dropped. A crash leaves the
  // file as it was before the punch or as it is after it.
  // Whole blocks of the range: what the punch takes out of a reservation.
  const uint64_t punch_begin = block_buffer::align_up(offset);
  const uint64_t punch_end = std::max(punch_begin, block_buffer::align_down(offset + length));
  return run_cow("punch", ino, [&](int attempt) -> Result<CowStep> {
    ReaderTracker::Pin pin = m_readers.enter();  // held over the edge reads
    CowChange c(m_alloc);
    uint64_t size = 0, end = 0, h0 = 0, t1 = 0;
    {
      auto guard = m_locks.lock_shared(ino);
      DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
      if (rec.is_dir()) return Status::error(EISDIR);
      if (!rec.is_reg()) return Status::error(ENODEV);
      size = rec.size;
      // Past the end of the file there is no data to punch (the size
      // stays), only a reservation to give back.
      end = std::min(offset + length, size);
      if (offset >= end) {
        guard.release();
        DFS_RETURN_IF_ERROR(m_reservations.drop(ino, punch_begin, punch_end));
        return CowStep::kCommitted;
      }
      h0 = block_buffer::align_down(offset);
      t1 = block_buffer::align_up(end);
      const bool head = offset != h0;
      const bool tail = end != t1 && !(head && t1 - kBlock == h0);
      if (head) DFS_RETURN_IF_ERROR(add_edge(ino, h0, &c));
      if (tail) DFS_RETURN_IF_ERROR(add_edge(ino, t1 - kBlock, &c));
    }
    // Edge blocks that hold data get a zeroed copy; holes stay holes.
    std::vector<std::pair<uint64_t, ExtentRecord>> placed;
    block_buffer::Ptr block = block_buffer::make(kBlock);
    for (const CowEdge& e : c.edges) {
      if (e.ref.hole) continue;
      DFS_ASSIGN_OR_RETURN(DataPolicy policy, m_inodes.data_policy(ino));
      Status st = read_block(e.ref, e.offset, block.get(), ino, pin);
      if (!st.is_ok()) return retry_edge_read(st, attempt);
      const uint64_t z0 = std::max(offset, e.offset), z1 = std::min(end, e.offset + kBlock);
      std::memset(block.get() + (z0 - e.offset), 0, z1 - z0);
      std::vector<ExtentRecord> recs;
      st = write_new_extents(block.get(), kBlock, next_write_seq(), &recs, &c.fresh.ranges, policy);
      if (!st.is_ok()) return retry_edge_read(st, attempt);
      for (auto& r : recs) placed.emplace_back(e.offset, std::move(r));
    }
    pin.release();

    auto guard = m_locks.lock_whole_file(ino);
    DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
    if (rec.size != size || !edges_unchanged(ino, c)) return CowStep::kRetry;
    DFS_RETURN_IF_ERROR(remap(&c.batch, ino, h0, t1, {}, 0, &c.freed, &c.alloc_delta, &c.shares));
    // After the remap in the batch, so these win over its deletes.
    auto* cf = m_volume.meta().handle(Cf::kExtents);
    for (const auto& [off, e] : placed) {
      c.batch.Put(cf, KeyCodec::extent_key(ino, off), e.encode());
      c.alloc_delta += e.length;
    }
    DFS_RETURN_IF_ERROR(commit_cow(&rec, &c, &guard,
                                   ReserveRelease{punch_begin, punch_end, /*cut=*/true},
                                   "punch.before_commit"));
    return CowStep::kCommitted;
  });
}

Status FileData::fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  if (length == 0) return Status::error(EINVAL);
  if (offset + length > kMaxFileSize || offset + length < offset) return Status::error(EFBIG);
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  const int other = mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
  if (other != 0) return Status::error(EOPNOTSUPP);  // collapse, insert, unshare
  if (mode & FALLOC_FL_PUNCH_HOLE) {
    if (!keep_size || (mode & FALLOC_FL_ZERO_RANGE)) return Status::error(EOPNOTSUPP);
    return punch_hole(ino, offset, length);
  }
  DFS_ASSIGN_OR_RETURN(auto rec, m_inodes.load(ino));
  if (rec.is_dir()) return Status::error(EISDIR);
  if (!rec.is_reg()) return Status::error(ENODEV);
  // Zeros are holes here: ZERO_RANGE frees the range's blocks and zeroes
  // the edges. Either way the holes of the range are then reserved, so
  // writing into it never fails with ENOSPC (reservations.h).
  if (mode & FALLOC_FL_ZERO_RANGE) DFS_RETURN_IF_ERROR(punch_hole(ino, offset, length));
  DFS_ASSIGN_OR_RETURN(auto policy, m_inodes.data_policy(ino));
  DFS_RETURN_IF_ERROR(m_reservations.reserve(ino, offset & ~(kBlock - 1),
                                             (offset + length + kBlock - 1) & ~(kBlock - 1),
                                             policy.copies(m_volume.replicas())));
  if (!keep_size && offset + length > rec.size) {
    InodeRecord out;
    return truncate(ino, offset + length, &out);
  }
  return Status::ok();
}

}  // namespace dynamicfs

// FileData::copy_range: copy_file_range(2) by sharing extents. Every write
// in dynamicfs already goes to fresh space, so a shared extent needs no
// copy-on-write machinery of its own: the copy points the destination's
// extent map at the source's blocks, SharedExtents counts the extra
// reference, and release_space frees a block only when its last reference
// goes. Only partial edge blocks (and ranges whose offsets differ within a
// block) are copied byte for byte.
#include <algorithm>
#include <memory>

#include "metadata/key_codec.h"
#include "src/common/clock.h"
#include "src/extent/block_buffer.h"
#include "src/extent/extent_space.h"
#include "src/fs/file_data.h"

namespace dynamicfs {

namespace {

// One reply carries at most a 32-bit byte count (struct fuse_write_out).
constexpr uint64_t kMaxSharePerCall = 0xFFFFF000ull;
// Byte copies are bounded per call so one request never runs for long; the
// caller loops.
constexpr uint64_t kMaxBytesPerCall = 64ull << 20;
constexpr uint64_t kCopyChunk = 1ull << 20;

Status check_regular(const InodeRecord& rec) {
  if (rec.is_dir()) return Status::error(EISDIR);
  if (!rec.is_reg()) return Status::error(EINVAL);
  return Status::ok();
}

}  // namespace

Result<size_t> FileData::copy_range(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                                    size_t length) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  if (length == 0) return size_t{0};
  if (src_off + length < src_off || dst_off + length < dst_off) return Status::error(EINVAL);
  DFS_ASSIGN_OR_RETURN(auto s, m_inodes.load(src));
  DFS_RETURN_IF_ERROR(check_regular(s));
  DFS_ASSIGN_OR_RETURN(auto d, m_inodes.load(dst));
  DFS_RETURN_IF_ERROR(check_regular(d));
  if (src_off >= s.size) return size_t{0};
  uint64_t len = std::min<uint64_t>(length, s.size - src_off);
  if (dst_off + len > kMaxFileSize) return Status::error(EFBIG);
  if (src == dst && src_off < dst_off + len && dst_off < src_off + len)
    return Status::error(EINVAL);  // overlapping ranges of one file

  if (src_off % kBlock != dst_off % kBlock) {
    // No block lines up with a block of the other file: copy the bytes.
    return copy_bytes(src, src_off, dst, dst_off, std::min(len, kMaxBytesPerCall));
  }
  len = std::min(len, kMaxSharePerCall);
  uint64_t done = 0;
  // The partial block before the first block boundary.
  const uint64_t head = std::min(len, (kBlock - src_off % kBlock) % kBlock);
  if (head > 0) {
    DFS_ASSIGN_OR_RETURN(auto n, copy_bytes(src, src_off, dst, dst_off, head));
    done += n;
    if (n < head) return static_cast<size_t>(done);
  }
  const uint64_t whole = (len - done) / kBlock * kBlock;
  if (whole > 0) {
    auto n = share_blocks(src, src_off + done, dst, dst_off + done, whole);
    if (!n.is_ok()) {
      if (done > 0) return static_cast<size_t>(done);
      return n.status();
    }
    done += n.value();
    if (n.value() < whole) return static_cast<size_t>(done);
  }
  if (done < len) {
    auto n = copy_bytes(src, src_off + done, dst, dst_off + done, len - done);
    if (!n.is_ok()) {
      if (done > 0) return static_cast<size_t>(done);
      return n.status();
    }
    done += n.value();
  }
  return static_cast<size_t>(done);
}

Result<size_t> FileData::copy_bytes(uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off,
                                    size_t length) {
  std::unique_ptr<char[]> buf(new char[std::min<uint64_t>(length, kCopyChunk)]);
  size_t done = 0;
  while (done < length) {
    size_t want = std::min<uint64_t>(length - done, kCopyChunk);
    auto r = read(src, src_off + done, want, buf.get());
    if (!r.is_ok()) {
      if (done > 0) break;
      return r.status();
    }
    if (r.value() == 0) break;  // the source ended early (truncated meanwhile)
    auto w = write(dst, dst_off + done, buf.get(), r.value());
    if (!w.is_ok()) {
      if (done > 0) break;
      return w.status();
    }
    done += w.value();
    if (r.value() < want) break;
  }
  return done;
}

Result<uint64_t> FileData::share_blocks(uint64_t src, uint64_t src_off, uint64_t dst,
                                        uint64_t dst_off, uint64_t length) {
  auto guard = m_locks.lock_copy(src, dst);
  auto s = m_inodes.load(src);
  if (!s.is_ok()) return s.status();
  DFS_RETURN_IF_ERROR(check_regular(s.value()));
  DFS_ASSIGN_OR_RETURN(InodeRecord d, m_inodes.load(dst));
  DFS_RETURN_IF_ERROR(check_regular(d));
  // Only whole blocks that lie inside the source as it is now (it may have
  // shrunk since the caller looked).
  if (src_off >= s->size) return uint64_t{0};
  length = std::min(length, (s->size - src_off) / kBlock * kBlock);
  if (length == 0) return uint64_t{0};

  DFS_ASSIGN_OR_RETURN(auto pieces, m_inodes.extents_in(src, src_off, src_off + length));
  CowChange c(m_alloc);
  // The destination range's old extents go (one remap per batch); the
  // source's blocks take their place, sliced to the range. Source holes stay
  // holes. `c.shares`: references this change adds (the source's blocks, and
  // stripes of the destination cut in two).
  DFS_RETURN_IF_ERROR(
      remap(&c.batch, dst, dst_off, dst_off + length, {}, 0, &c.freed, &c.alloc_delta, &c.shares));
  auto* cf = m_volume.meta().handle(Cf::kExtents);
  for (const auto& [foff, e] : pieces) {
    const uint64_t cut0 = std::max(foff, src_off);
    const uint64_t cut1 = std::min<uint64_t>(foff + e.length, src_off + length);
    ExtentRecord part =
        e.slice(static_cast<uint32_t>(cut0 - foff), static_cast<uint32_t>(cut1 - cut0));
    c.batch.Put(cf, KeyCodec::extent_key(dst, dst_off + (cut0 - src_off)), part.encode());
    append_space(part, &c.shares);
    c.alloc_delta += static_cast<int64_t>(part.length);
  }
  d.size = std::max(d.size, dst_off + length);
  // The destination range takes the source's layout, holes included: what
  // it had reserved there is given back. The extra references exist before
  // the commit that makes them visible, while the source's writers are
  // still locked out: no release can free these blocks in between.
  DFS_RETURN_IF_ERROR(commit_cow(
      &d, &c, &guard,
      ReserveRelease{block_buffer::align_down(dst_off), block_buffer::align_down(dst_off + length),
                     /*cut=*/true},
      "copy_range.before_commit"));
  return length;
}

}  // namespace dynamicfs

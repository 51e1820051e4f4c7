// FileData copy-on-write changes: the one protocol every change of a
// file's data follows (write, truncate, hole punching, shared copies).
//
// A change reads the partial edge blocks it merges with and writes its
// fresh extents with no exclusive lock held; then, under the exclusive
// lock, it commits only if those edges are still what it read, and starts
// again otherwise. The commit updates the inode the same way for every
// change (allocation, times, generation, reservations), applies one batch
// and only then frees the space the change replaced.
#include "metadata/key_codec.h"
#include "src/common/crash_point.h"
#include "src/fs/file_data.h"

namespace dynamicfs {

Status FileData::run_cow(const char* what, uint64_t ino,
                         const std::function<Result<CowStep>(int)>& attempt) {
  for (int n = 0; n < kMaxRetries; ++n) {
    DFS_ASSIGN_OR_RETURN(CowStep step, attempt(n));
    if (step == CowStep::kCommitted) return Status::ok();
  }
  return Status::error(EAGAIN, std::string(what) + " of inode " + std::to_string(ino) +
                                   " kept racing with other writers");
}

Result<FileData::CowStep> FileData::retry_edge_read(const Status& st, int attempt) {
  // A repair or a racing write may have moved the block: read it again a
  // few times before the change fails with the read's error.
  constexpr int kEdgeReadRetries = 3;
  if (attempt < kEdgeReadRetries) return CowStep::kRetry;
  return st;
}

Status FileData::add_edge(uint64_t ino, uint64_t offset, CowChange* c) const {
  DFS_ASSIGN_OR_RETURN(BlockRef ref, m_inodes.block_ref(ino, offset));
  c->edges.push_back(CowEdge{offset, std::move(ref)});
  return Status::ok();
}

bool FileData::edges_unchanged(uint64_t ino, const CowChange& c) const {
  for (const CowEdge& e : c.edges) {
    auto now = m_inodes.block_ref(ino, e.offset);
    if (!now.is_ok() || !now->same_as(e.ref)) return false;
  }
  return true;
}

Status FileData::commit_cow(InodeRecord* rec, CowChange* c, ExtentLockManager::Guard* guard,
                            const ReserveRelease& reserve, const char* crash_at) {
  rec->alloc_bytes = static_cast<uint64_t>(static_cast<int64_t>(rec->alloc_bytes) + c->alloc_delta);
  rec->mtime = rec->ctime = now_timestamp();
  ++rec->generation;
  DFS_ASSIGN_OR_RETURN(uint64_t unreserve, m_reservations.release(&c->batch, rec, reserve.begin,
                                                                  reserve.end, reserve.cut));
  m_inodes.put(&c->batch, *rec);
  if (crash_at != nullptr) crash_point(crash_at);
  DFS_RETURN_IF_ERROR(commit_sharing(&c->batch, c->shares));
  c->fresh.committed();
  guard->release();
  m_alloc.unreserve(unreserve);
  release_space(c->freed);
  return Status::ok();
}

Status FileData::commit_sharing(rocksdb::WriteBatch* b, const std::vector<DiskRange>& shares) {
  // The extra references exist before the commit makes the second window
  // visible; the caller's locks keep every window of these stripes alive.
  for (const DiskRange& r : shares) m_shared.share(r);
  Status st = m_commit.apply(b);
  if (!st.is_ok() && !shares.empty()) {
    std::vector<DiskRange> none;  // the uncut window still holds them
    m_shared.release(shares, &none);
  }
  return st;
}

}  // namespace dynamicfs

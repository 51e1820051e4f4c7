// FileData writes: copy-on-write writes and truncation, fresh extents
// (copies or stripes), the extent map swap, and the space they take and give
// back.
//
// Writes prepare fresh extents (reading partial edge blocks, writing the data
// with its crc32c) with no lock held, then take the inode lock, check that
// the edge blocks they merged with are unchanged, and swap the extent map in
// one metadata batch. Invariant: bytes of the last block beyond i_size are
// zero, so extending a file never exposes stale data.
#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>

#include "metadata/journal_blob.h"
#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"
#include "src/extent/extent_space.h"
#include "src/fs/file_data.h"

namespace dynamicfs {

namespace {

// Starts at the wall clock in ns, so tags of different mounts rarely meet.
// (The extent cache does not rely on it: space is dropped from the cache
// before it can be reused; the tag check is a second guard.)
std::atomic<uint64_t> g_write_seq{
    static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count())};

using block_buffer::align_down;
using block_buffer::align_up;

}  // namespace

uint64_t FileData::next_write_seq() {
  return g_write_seq.fetch_add(1);
}

Status FileData::write_new_extents(const char* data, uint64_t length, uint64_t generation,
                                   std::vector<ExtentRecord>* out, std::vector<DiskRange>* space,
                                   const DataPolicy& policy, IoClass cls, uint64_t may_use_reserved,
                                   rocksdb::WriteBatch* journal) {
  // Under an erasure-coding policy, pieces of up to one record each become
  // stripes while they are long enough; the rest is replicated.
  uint64_t pos = 0;
  while (policy.codes(std::min<uint64_t>(ReplicaIo::kMaxExtent, length - pos) / kBlock)) {
    const uint64_t len = std::min<uint64_t>(ReplicaIo::kMaxExtent, length - pos);
    DFS_ASSIGN_OR_RETURN(auto coded,
                         write_stripe(data + pos, len, policy.ec, generation, out, space, cls));
    if (!coded) break;  // too few disks or no contiguous room: replicate
    pos += len;
  }
  if (pos == length) return Status::ok();
  const size_t copies = policy.copies(m_volume.replicas());
  for (size_t attempt = 0;; ++attempt) {
    DFS_ASSIGN_OR_RETURN(auto placed, allocate_space(length - pos, copies, may_use_reserved));
    std::vector<ExtentRecord> records;
    uint32_t failed = 0;
    Status st = m_replicas.write(data + pos, placed, generation, &records, &failed, cls,
                                 journal != nullptr);
    std::vector<DiskRange> all;
    for (const auto& c : placed) all.insert(all.end(), c.begin(), c.end());
    if (st.is_ok()) {
      if (journal != nullptr) {
        uint64_t at = pos;
        for (const auto& r : records) {
          (void)journal->PutLogData(JournalBlob::encode(r.copies, data + at, r.length));
          at += r.length;
        }
      }
      out->insert(out->end(), records.begin(), records.end());
      space->insert(space->end(), all.begin(), all.end());
      return Status::ok();
    }
    m_alloc.free_now(all);
    // A disk that just failed is out of the placement now: try the others.
    if (m_volume.disk_state(failed) != DiskState::kFailed || attempt >= Volume::kMaxDisks)
      return st;
  }
}

Result<bool> FileData::write_stripe(const char* data, uint64_t length, const EcScheme& scheme,
                                    uint64_t generation, std::vector<ExtentRecord>* out,
                                    std::vector<DiskRange>* space, IoClass cls) {
  const uint64_t unit = (length / kBlock + scheme.k - 1) / scheme.k * kBlock;
  for (size_t attempt = 0;; ++attempt) {
    if (m_volume.writable_count() < scheme.units()) return false;
    auto placed = allocate_or_recycle<Placement>(
        [&] { return m_alloc.allocate_copies(unit, scheme.units(), m_volume.writable_mask()); });
    // Too few disks with room for a unit each: copies may still fit.
    if (!placed.is_ok() && placed.err() == ENOSPC) return false;
    if (!placed.is_ok()) return placed.status();
    std::vector<DiskRange> units, all;
    for (const auto& c : placed.value()) all.insert(all.end(), c.begin(), c.end());
    for (const auto& c : placed.value())
      if (c.size() == 1) units.push_back(c.front());
    if (units.size() != scheme.units()) {  // a unit would be in pieces
      m_alloc.free_now(all);
      return false;
    }
    ExtentRecord rec;
    uint32_t failed = 0;
    Status st =
        m_replicas.write_stripe(data, length, scheme, units, generation, &rec, &failed, cls);
    if (st.is_ok()) {
      out->push_back(std::move(rec));
      space->insert(space->end(), all.begin(), all.end());
      return true;
    }
    m_alloc.free_now(all);
    if (m_volume.disk_state(failed) != DiskState::kFailed || attempt >= Volume::kMaxDisks)
      return st;
  }
}

Status FileData::remap(rocksdb::WriteBatch* b, uint64_t ino, uint64_t start, uint64_t end,
                       const std::vector<ExtentRecord>& fresh, uint64_t fresh_file_off,
                       std::vector<DiskRange>* freed, int64_t* alloc_delta,
                       std::vector<DiskRange>* shares) {
  auto* cf = m_volume.meta().handle(Cf::kExtents);
  DFS_ASSIGN_OR_RETURN(auto old, m_inodes.extents_in(ino, start, end));
  for (const auto& [foff, e] : old) {
    b->Delete(cf, KeyCodec::extent_key(ino, foff));
    uint64_t cut0 = std::max(foff, start), cut1 = std::min<uint64_t>(foff + e.length, end);
    if (foff < start)
      b->Put(cf, KeyCodec::extent_key(ino, foff),
             e.slice(0, static_cast<uint32_t>(start - foff)).encode());
    if (foff + e.length > end) {
      b->Put(
          cf, KeyCodec::extent_key(ino, end),
          e.slice(static_cast<uint32_t>(end - foff), static_cast<uint32_t>(foff + e.length - end))
              .encode());
    }
    if (e.is_ec()) {
      // A stripe is freed whole when its last window goes: cutting a window
      // out of the middle leaves two, one more reference to the stripe,
      // taken by commit_sharing.
      const int left = (foff < start ? 1 : 0) + (foff + e.length > end ? 1 : 0);
      std::vector<DiskRange> stripe;
      append_space(e, &stripe);
      if (left == 0) freed->insert(freed->end(), stripe.begin(), stripe.end());
      if (left == 2) shares->insert(shares->end(), stripe.begin(), stripe.end());
    } else {
      for (const auto& c : e.copies)
        freed->push_back(DiskRange{c.disk, c.offset + (cut0 - foff), cut1 - cut0});
    }
    *alloc_delta -= static_cast<int64_t>(cut1 - cut0);
  }
  uint64_t pos = fresh_file_off;
  for (const auto& e : fresh) {
    b->Put(cf, KeyCodec::extent_key(ino, pos), e.encode());
    pos += e.length;
    *alloc_delta += e.length;
  }
  return Status::ok();
}

Result<size_t> FileData::write(uint64_t ino, uint64_t offset, const char* data, size_t size) {
  DFS_RETURN_IF_ERROR(check_writable(m_read_only));
  if (size == 0) return size_t{0};
  if (offset + size > kMaxFileSize || offset + size < offset) return Status::error(EFBIG);
  const uint64_t a0 = align_down(offset), a1 = align_up(offset + size);
  const bool head = offset != a0;
  const bool tail = (offset + size) != a1 && !(head && a1 - kBlock == a0);
  block_buffer::Ptr buf = block_buffer::make(a1 - a0);
  DFS_ASSIGN_OR_RETURN(auto policy, m_inodes.data_policy(ino));
  DFS_RETURN_IF_ERROR(run_cow("write", ino, [&](int attempt) -> Result<CowStep> {
    ReaderTracker::Pin pin = m_readers.enter();  // held over the edge reads
    CowChange c(m_alloc);
    if (head || tail) {
      auto guard = m_locks.lock_range_shared(ino, a0, a1);
      DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
      if (!rec.is_reg()) return Status::error(rec.is_dir() ? EISDIR : EINVAL);
      if (head) DFS_RETURN_IF_ERROR(add_edge(ino, a0, &c));
      if (tail) DFS_RETURN_IF_ERROR(add_edge(ino, a1 - kBlock, &c));
    }
    for (const CowEdge& e : c.edges) {
      Status st = read_block(e.ref, e.offset, buf.get() + (e.offset - a0), ino, pin);
      if (!st.is_ok()) return retry_edge_read(st, attempt);
    }
    pin.release();
    std::memcpy(buf.get() + (offset - a0), data, size);
    // A file with a reservation (fallocate) may spend it; a hint, read
    // without the lock (the allocator keeps other files' reservations), and
    // only while the pool has reservations at all.
    uint64_t may_use = 0;
    if (m_alloc.reserved() > 0) {
      auto hint = m_inodes.load(ino);
      if (hint.is_ok()) may_use = hint->reserved_raw();
    }
    // A small write's data also rides in the WAL with its records: an fsync
    // then needs one WAL sync, and the disks are synced in the background.
    const bool journal = a1 - a0 <= m_journal_max.load(std::memory_order_relaxed);
    std::vector<ExtentRecord> fresh;
    DFS_RETURN_IF_ERROR(write_new_extents(buf.get(), a1 - a0, g_write_seq.fetch_add(1), &fresh,
                                          &c.fresh.ranges, policy, IoClass::kWrite, may_use,
                                          journal ? &c.batch : nullptr));

    auto guard = m_locks.lock_range_exclusive(ino, a0, a1);
    DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
    if (!rec.is_reg()) return Status::error(rec.is_dir() ? EISDIR : EINVAL);
    if (!edges_unchanged(ino, c)) return CowStep::kRetry;
    DFS_RETURN_IF_ERROR(
        remap(&c.batch, ino, a0, a1, fresh, a0, &c.freed, &c.alloc_delta, &c.shares));
    rec.size = std::max<uint64_t>(rec.size, offset + size);
    DFS_RETURN_IF_ERROR(commit_cow(&rec, &c, &guard, ReserveRelease{a0, a1, /*cut=*/false}));
    return CowStep::kCommitted;
  }));
  return size;
}

Status FileData::truncate(uint64_t ino, uint64_t new_size, InodeRecord* out) {
  if (new_size > kMaxFileSize) return Status::error(EFBIG);
  block_buffer::Ptr block = block_buffer::make(kBlock);
  return run_cow("truncate", ino, [&](int attempt) -> Result<CowStep> {
    ReaderTracker::Pin pin = m_readers.enter();  // held over the edge read
    CowChange c(m_alloc);
    uint64_t old_size = 0;
    {
      auto guard = m_locks.lock_range_shared(ino, 0, UINT64_MAX);
      DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
      if (rec.is_dir()) return Status::error(EISDIR);
      if (!rec.is_reg()) return Status::error(EINVAL);
      old_size = rec.size;
      const uint64_t boundary = std::min(old_size, new_size);
      if (new_size != old_size && boundary % kBlock != 0) {
        DFS_RETURN_IF_ERROR(add_edge(ino, align_down(boundary), &c));
        if (c.edges.back().ref.hole) c.edges.clear();  // a hole stays one
      }
    }
    // Rewrite the boundary block with zeros past the new end of data.
    const bool cow = !c.edges.empty();
    const uint64_t edge_off = cow ? c.edges.front().offset : 0;
    std::vector<ExtentRecord> fresh;
    if (cow) {
      Status st = read_block(c.edges.front().ref, edge_off, block.get(), ino, pin);
      if (!st.is_ok()) return retry_edge_read(st, attempt);
      const uint64_t keep = std::min(old_size, new_size) - edge_off;
      std::memset(block.get() + keep, 0, kBlock - keep);
      pin.release();
      DFS_ASSIGN_OR_RETURN(DataPolicy policy, m_inodes.data_policy(ino));
      DFS_RETURN_IF_ERROR(write_new_extents(block.get(), kBlock, g_write_seq.fetch_add(1), &fresh,
                                            &c.fresh.ranges, policy));
    }
    auto guard = m_locks.lock_whole_file(ino);
    DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
    if (rec.size != old_size || !edges_unchanged(ino, c)) return CowStep::kRetry;
    // One remap per batch: a second one would read the extent map without
    // the first one's (unapplied) changes.
    if (cow) {
      const uint64_t end = new_size < old_size ? UINT64_MAX : edge_off + kBlock;
      DFS_RETURN_IF_ERROR(remap(&c.batch, ino, edge_off, end, fresh, edge_off, &c.freed,
                                &c.alloc_delta, &c.shares));
    } else if (new_size < old_size) {
      DFS_RETURN_IF_ERROR(remap(&c.batch, ino, align_up(new_size), UINT64_MAX, {}, 0, &c.freed,
                                &c.alloc_delta, &c.shares));
    }
    // Shrinking also gives back what was reserved past the new end.
    ReserveRelease reserve;
    if (new_size < old_size) reserve = ReserveRelease{align_up(new_size), UINT64_MAX, true};
    rec.size = new_size;
    DFS_RETURN_IF_ERROR(commit_cow(&rec, &c, &guard, reserve, "truncate.before_commit"));
    *out = rec;
    return CowStep::kCommitted;
  });
}

void FileData::release_space(const std::vector<DiskRange>& freed) {
  std::vector<DiskRange> unowned;
  m_shared.release(freed, &unowned);
  m_alloc.defer_free(unowned, m_readers.tag_free());
}

Result<FileData::Placement> FileData::allocate_space(uint64_t length, size_t wanted,
                                                     uint64_t may_use_reserved) {
  const DiskMask writable = m_volume.writable_mask();
  const size_t copies = std::min<size_t>(wanted, m_volume.writable_count());
  if (copies == 0) return Status::error(EIO, "no disk of the volume can take new data");
  return allocate_or_recycle<Placement>([&]() -> Result<Placement> {
    // The ssd class first while it has room (tiering), else any disks.
    DFS_ASSIGN_OR_RETURN(auto tiered, m_tiering.allocate(length, copies, may_use_reserved));
    if (tiered.has_value()) return std::move(*tiered);
    if (copies > 1) return m_alloc.allocate_copies(length, copies, writable, may_use_reserved);
    // One copy may spill over disks.
    DFS_ASSIGN_OR_RETURN(auto one, m_alloc.allocate(length, writable, may_use_reserved));
    return Placement{std::move(one)};
  });
}

FileData::FileData(Volume& volume, Allocator& alloc, GroupCommitCoordinator& commit,
                   ExtentLockManager& locks, ReaderTracker& readers, ReplicaIo& replicas,
                   SharedExtents& shared, InodeStore& inodes, Reservations& reservations,
                   Tiering& tiering, Namespace& names, SyncAll sync_all, uint32_t journal_max_bytes)
    : m_volume(volume),
      m_alloc(alloc),
      m_commit(commit),
      m_locks(locks),
      m_readers(readers),
      m_replicas(replicas),
      m_shared(shared),
      m_inodes(inodes),
      m_reservations(reservations),
      m_tiering(tiering),
      m_namespace(names),
      m_sync_all(std::move(sync_all)),
      m_read_only(volume.read_only()),
      m_journal_max(journal_max_bytes) {}

}  // namespace dynamicfs

// Reservations: the fallocate ranges of inode records and their index keys
// (see reservations.h); range arithmetic on (offset, length) lists.
#include "src/fs/reservations.h"

#include <algorithm>

#include "metadata/key_codec.h"
#include "src/common/coding.h"

namespace dynamicfs {

namespace {

using Ranges = Reservations::Ranges;

// Bytes of [a, b) inside R.
uint64_t overlap(const Ranges& r, uint64_t a, uint64_t b) {
  uint64_t n = 0;
  for (const auto& [off, len] : r) {
    const uint64_t lo = std::max(a, off), hi = std::min(b, off + len);
    if (lo < hi) n += hi - lo;
  }
  return n;
}

// R minus [a, b).
void cut_range(Ranges* r, uint64_t a, uint64_t b) {
  Ranges out;
  for (const auto& [off, len] : *r) {
    const uint64_t end = off + len;
    if (end <= a || off >= b) {
      out.emplace_back(off, len);
      continue;
    }
    if (off < a) out.emplace_back(off, a - off);
    if (end > b) out.emplace_back(b, end - b);
  }
  *r = std::move(out);
}

// R plus [a, b), merged.
void add_range(Ranges* r, uint64_t a, uint64_t b) {
  r->emplace_back(a, b - a);
  std::sort(r->begin(), r->end());
  Ranges out;
  for (const auto& [off, len] : *r) {
    if (!out.empty() && off <= out.back().first + out.back().second) {
      auto& last = out.back();
      last.second = std::max(last.first + last.second, off + len) - last.first;
    } else {
      out.emplace_back(off, len);
    }
  }
  *r = std::move(out);
}

}  // namespace

Result<uint64_t> Reservations::hole_bytes(uint64_t ino, uint64_t a, uint64_t b,
                                          const Ranges* within) const {
  uint64_t total = within == nullptr ? b - a : overlap(*within, a, b);
  if (total == 0) return uint64_t{0};
  DFS_ASSIGN_OR_RETURN(auto ext, m_inodes.extents_in(ino, a, b));
  for (const auto& [off, e] : ext) {
    const uint64_t lo = std::max(a, off), hi = std::min(b, off + e.length);
    if (lo >= hi) continue;
    total -= within == nullptr ? hi - lo : overlap(*within, lo, hi);
  }
  return total;
}

void Reservations::put_index(rocksdb::WriteBatch* b, const InodeRecord& rec) const {
  auto* cf = m_meta.handle(Cf::kVolume);
  if (rec.reserved_raw() == 0) {
    b->Delete(cf, KeyCodec::reserve_key(rec.ino));
    return;
  }
  std::string v;
  put_le<uint64_t>(&v, rec.reserved_raw());
  b->Put(cf, KeyCodec::reserve_key(rec.ino), v);
}

Result<uint64_t> Reservations::release(rocksdb::WriteBatch* b, InodeRecord* rec, uint64_t a,
                                       uint64_t e, bool cut) {
  if (rec->reserve_ranges.empty() || overlap(rec->reserve_ranges, a, e) == 0) return uint64_t{0};
  DFS_ASSIGN_OR_RETURN(uint64_t holes, hole_bytes(rec->ino, a, e, &rec->reserve_ranges));
  const uint64_t copies = rec->reserve_copies;
  const uint64_t n = std::min(holes, rec->reserved_bytes);
  rec->reserved_bytes -= n;
  if (cut) cut_range(&rec->reserve_ranges, a, e);
  if (rec->reserved_bytes == 0 || rec->reserve_ranges.empty()) {
    rec->reserve_ranges.clear();
    rec->reserved_bytes = 0;
    rec->reserve_copies = 0;
  }
  put_index(b, *rec);
  return n * copies;
}

Status Reservations::reserve(uint64_t ino, uint64_t a, uint64_t e, uint32_t copies) {
  auto guard = m_locks.lock_whole_file(ino);
  DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
  DFS_ASSIGN_OR_RETURN(uint64_t holes, hole_bytes(ino, a, e, nullptr));
  DFS_ASSIGN_OR_RETURN(uint64_t held, hole_bytes(ino, a, e, &rec.reserve_ranges));
  const uint64_t fresh = holes - std::min(holes, held);
  if (rec.reserve_copies == 0) rec.reserve_copies = copies;
  const uint64_t raw = fresh * rec.reserve_copies;
  if (raw > 0) DFS_RETURN_IF_ERROR(m_alloc.reserve(raw));
  add_range(&rec.reserve_ranges, a, e);
  rec.reserved_bytes += fresh;
  if (rec.reserved_bytes == 0) {  // the whole range holds data already
    rec.reserve_ranges.clear();
    rec.reserve_copies = 0;
  }
  rec.ctime = now_timestamp();
  rocksdb::WriteBatch b;
  m_inodes.put(&b, rec);
  put_index(&b, rec);
  Status st = m_commit.apply(&b);
  if (!st.is_ok() && raw > 0) m_alloc.unreserve(raw);
  return st;
}

Status Reservations::drop(uint64_t ino, uint64_t a, uint64_t e) {
  auto guard = m_locks.lock_whole_file(ino);
  DFS_ASSIGN_OR_RETURN(InodeRecord rec, m_inodes.load(ino));
  rocksdb::WriteBatch b;
  DFS_ASSIGN_OR_RETURN(uint64_t raw, release(&b, &rec, a, e, /*cut=*/true));
  if (b.Count() == 0) return Status::ok();
  m_inodes.put(&b, rec);
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  m_alloc.unreserve(raw);
  return Status::ok();
}

Result<uint64_t> Reservations::load_total() const {
  uint64_t total = 0;
  const std::string prefix = KeyCodec::kReservePrefix;
  auto it = m_meta.iterator(Cf::kVolume);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 8) return Status::error(EUCLEAN, "malformed reservation record");
    total += get_le<uint64_t>(it->value().data());
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "reservation scan"));
  return total;
}

void Reservations::forget(rocksdb::WriteBatch* b, const InodeRecord& rec) {
  if (rec.reserved_raw() == 0) return;
  b->Delete(m_meta.handle(Cf::kVolume), KeyCodec::reserve_key(rec.ino));
  // Given back as the deletion is batched: a failed commit of a deletion
  // leaves the metadata store unusable anyway.
  m_alloc.unreserve(rec.reserved_raw());
}

}  // namespace dynamicfs

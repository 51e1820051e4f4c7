// DataPlacement disk administration: `disk add`, `disk remove` and the
// rebalance that both run. A rebalance walks a snapshot of the extent map
// and rewrites each extent whose copies are not where they should be: copies
// on draining, failed or removed disks are dropped, and copies are added on
// online disks until the extent has min(replicas, writable disks) of them.
//
// Each extent moves like a write: the new copies are written with no lock
// held (data read and verified from a good copy, under a reader pin), then
// the inode's range lock is taken, the record is checked to be unchanged,
// and one batch swaps it; the dropped copies' space is released like any
// overwritten space. Data never changes, so readers need no retry.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"
#include "src/extent/pending_space.h"
#include "src/fs/data_placement.h"

namespace dynamicfs {

RebalanceStatus DataPlacement::rebalance_status() const {
  std::lock_guard lk(m_rebalance_mutex);
  RebalanceStatus s = m_rebalance;
  s.bytes_done = m_rebalance_done.load();
  return s;
}

bool DataPlacement::extent_needs_work(const ExtentRecord& e, size_t wanted) const {
  const size_t target = std::min<size_t>(wanted, m_volume.writable_count());
  size_t online = 0;
  bool stray = false;
  for (const auto& c : e.copies) {
    if (c.disk < m_volume.disk_count() && m_volume.disk_state(c.disk) == DiskState::kOnline) {
      ++online;
    } else {
      stray = true;
    }
  }
  // A stripe needs every unit; it is rebuilt whole (rewrite_extent).
  return stray || (!e.is_ec() && online < target);
}

Status DataPlacement::relocate_extent(std::string_view key, std::string_view value,
                                      const ExtentRecord& e, const DataPolicy& policy) {
  const uint64_t ino = KeyCodec::extent_key_ino(key);
  // A stripe with a unit on a failed or draining disk is rebuilt as a new
  // stripe on online disks (as copies while too few are left), read through
  // reconstruction; copies of coded data become a stripe again.
  if (e.is_ec() || (policy.is_ec() && !extent_matches(e, policy))) {
    Status st = rewrite_extent(key, value, e, policy);  // as the file's policy says now
    // Copies that could not be coded now still get their count restored.
    if (e.is_ec() || st.err() != EAGAIN ||
        !extent_needs_work(e, policy.copies(m_volume.replicas())))
      return st;
  }
  const size_t target =
      std::min<size_t>(policy.copies(m_volume.replicas()), m_volume.writable_count());
  std::vector<ExtentCopy> keep;
  std::vector<DiskRange> dropped;
  DiskMask taken = 0;
  for (const auto& c : e.copies) {
    if (c.disk < m_volume.disk_count() && m_volume.disk_state(c.disk) == DiskState::kOnline) {
      keep.push_back(c);
      taken |= DiskMask{1} << c.disk;
    } else {
      dropped.push_back(DiskRange{c.disk, c.offset, e.length});
    }
  }
  const size_t add = target > keep.size() ? target - keep.size() : 0;
  if (keep.empty() && add == 0)
    return Status::error(EIO, "no disk can take a copy of inode " + std::to_string(ino));
  return replace_copies(key, value, e, keep, dropped, add, m_volume.writable_mask() & ~taken);
}

Status DataPlacement::replace_copies(std::string_view key, std::string_view value,
                                     const ExtentRecord& e, const std::vector<ExtentCopy>& keep,
                                     const std::vector<DiskRange>& dropped, size_t add,
                                     DiskMask allowed) {
  const uint64_t ino = KeyCodec::extent_key_ino(key), off = KeyCodec::extent_key_offset(key);
  PendingSpace space(m_alloc);
  std::vector<ExtentRecord> pieces;  // replaces `e`, in file order
  ReaderTracker::Pin pin = m_readers.enter();
  DFS_ASSIGN_OR_RETURN(auto live, m_volume.meta().get(Cf::kExtents, std::string(key)));
  if (!live.has_value() || *live != value) return Status::ok();  // changed: a later pass
  if (add > 0) {
    auto copies = m_data.allocate_or_recycle<FileData::Placement>(
        [&] { return m_alloc.allocate_copies(e.length, add, allowed); });
    if (!copies.is_ok()) {
      return Status::error(
          copies.err(), "no room for another copy of inode " + std::to_string(ino) + " at offset " +
                            std::to_string(off) + ": " + copies.status().message());
    }
    for (const auto& c : copies.value())
      space.ranges.insert(space.ranges.end(), c.begin(), c.end());
    block_buffer::Ptr buf = block_buffer::make(e.length);
    DFS_RETURN_IF_ERROR(m_replicas.read(e, 0, e.blocks(), buf.get(), IoClass::kBackground, pin,
                                        ReadSite{ino, off}));
    std::vector<ExtentRecord> fresh;
    uint32_t failed = 0;
    DFS_RETURN_IF_ERROR(m_replicas.write(buf.get(), copies.value(), e.generation, &fresh, &failed,
                                         IoClass::kBackground));
    uint32_t pos = 0;
    for (const auto& r : fresh) {
      ExtentRecord piece = e.slice(pos, r.length);
      piece.copies.clear();
      for (const auto& k : keep) piece.copies.push_back(ExtentCopy{k.disk, k.offset + pos});
      piece.copies.insert(piece.copies.end(), r.copies.begin(), r.copies.end());
      pieces.push_back(std::move(piece));
      pos += r.length;
    }
  } else {
    ExtentRecord same = e;
    same.copies = keep;
    pieces.push_back(std::move(same));
  }
  pin.release();

  DiskMask kept = 0;
  for (const auto& k : keep) kept |= DiskMask{1} << k.disk;
  DFS_ASSIGN_OR_RETURN(auto swapped, swap_extent(key, value, e.length, pieces, kept, &space));
  if (swapped) m_data.release_space(dropped);
  return Status::ok();
}

Result<bool> DataPlacement::swap_extent(std::string_view key, std::string_view value,
                                        uint32_t length, const std::vector<ExtentRecord>& pieces,
                                        DiskMask kept, PendingSpace* space) {
  const uint64_t ino = KeyCodec::extent_key_ino(key), off = KeyCodec::extent_key_offset(key);
  auto guard = m_locks.lock_range_exclusive(ino, off, off + length);
  DFS_ASSIGN_OR_RETURN(auto cur, m_volume.meta().get(Cf::kExtents, std::string(key)));
  if (!cur.has_value() || *cur != value) return false;  // rewritten meanwhile
  // A disk that started draining or failed meanwhile gets no new data.
  for (const auto& p : pieces) {
    for (const auto& c : p.copies) {
      if (m_volume.disk_state(c.disk) != DiskState::kOnline && ((kept >> c.disk) & 1) == 0)
        return Status::error(EAGAIN, "disk " + std::to_string(c.disk) + " left the pool meanwhile");
    }
  }
  rocksdb::WriteBatch b;
  auto* cf = m_volume.meta().handle(Cf::kExtents);
  b.Delete(cf, KeyCodec::extent_key(ino, off));
  uint64_t pos = off;
  for (const auto& p : pieces) {
    b.Put(cf, KeyCodec::extent_key(ino, pos), p.encode());
    pos += p.length;
  }
  DFS_RETURN_IF_ERROR(m_commit.apply(&b));
  space->committed();
  return true;
}

Status DataPlacement::rebalance_all(int limit) {
  auto& meta = m_volume.meta();
  for (int pass = 0; pass < limit; ++pass) {
    // Pass 1 counts, pass 2 moves: progress has a total from the start.
    const rocksdb::Snapshot* snap = meta.db()->GetSnapshot();
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    uint64_t total = 0;
    // Copies each file's replicated extents should have, by its policy.
    uint64_t last_ino = 0;
    DataPolicy policy;
    auto policy_of = [&](std::string_view key) -> const DataPolicy& {
      const uint64_t ino = KeyCodec::extent_key_ino(key);
      if (ino != last_ino) {
        last_ino = ino;
        auto p = m_inodes.data_policy(ino);
        policy = p.is_ok() ? p.value() : DataPolicy{};
      }
      return policy;
    };
    // Work: copies or units on disks that left, too few copies, data of a
    // coded policy kept as copies while there were too few disks to code,
    // and stripes of files whose policy is copies now (an unfinished
    // conversion).
    auto needs_work = [&](std::string_view key, const ExtentRecord& e) {
      const DataPolicy& p = policy_of(key);
      return extent_needs_work(e, p.copies(m_volume.replicas())) ||
             ((p.is_ec() || e.is_ec()) && !extent_matches(e, p));
    };
    {
      std::unique_ptr<rocksdb::Iterator> it(meta.db()->NewIterator(ro, meta.handle(Cf::kExtents)));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        auto e = ExtentRecord::decode({it->value().data(), it->value().size()});
        if (e.is_ok() && it->key().size() == 16 &&
            needs_work({it->key().data(), it->key().size()}, e.value()))
          total += e->length;
      }
    }
    {
      std::lock_guard lk(m_rebalance_mutex);
      m_rebalance.bytes_total = total;
    }
    m_rebalance_done = 0;
    if (total == 0) {
      meta.db()->ReleaseSnapshot(snap);
      return Status::ok();
    }
    Status st;
    std::unique_ptr<rocksdb::Iterator> it(meta.db()->NewIterator(ro, meta.handle(Cf::kExtents)));
    for (it->SeekToFirst(); it->Valid() && st.is_ok(); it->Next()) {
      if (m_rebalance_cancel) {
        st = Status::error(ECANCELED, "rebalance cancelled");
        break;
      }
      std::string_view key(it->key().data(), it->key().size());
      std::string_view value(it->value().data(), it->value().size());
      auto e = ExtentRecord::decode(value);
      if (!e.is_ok() || key.size() != 16) {
        st = Status::error(EUCLEAN, "malformed extent record: run fsck");
        break;
      }
      if (!needs_work(key, e.value())) continue;
      st = relocate_extent(key, value, e.value(), policy_of(key));
      if (st.err() == EAGAIN) st = Status::ok();  // a target disk left: the next pass
      m_rebalance_done += e->length;
      std::lock_guard lk(m_rebalance_mutex);
      ++m_rebalance.extents_moved;
    }
    it.reset();
    meta.db()->ReleaseSnapshot(snap);
    DFS_RETURN_IF_ERROR(st);
  }
  return Status::ok();
}

Result<uint64_t> DataPlacement::extents_on(uint32_t disk) const {
  uint64_t n = 0;
  auto it = m_volume.meta().iterator(Cf::kExtents);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode({it->value().data(), it->value().size()}));
    if (e.copy_on(disk) != nullptr) ++n;
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "extent scan"));
  return n;
}

namespace {
// Runs `body` as the volume's one rebalance, recording it for status.
template <typename Body>
auto run_task(std::mutex& admin, std::mutex& mu, RebalanceStatus& state, const std::string& task,
              Body body) -> decltype(body()) {
  std::unique_lock admin_lock(admin, std::try_to_lock);
  if (!admin_lock.owns_lock())
    return Status::error(EBUSY, "another disk add or remove is running on this volume");
  {
    std::lock_guard lk(mu);
    state = RebalanceStatus{};
    state.running = true;
    state.task = task;
  }
  auto r = body();
  std::lock_guard lk(mu);
  state.running = false;
  state.result = r.is_ok() ? "ok" : r.status().to_string();
  return r;
}
}  // namespace

Result<uint32_t> DataPlacement::add_disk(const std::string& path, uint64_t create_size, bool force,
                                         unsigned io_workers) {
  DFS_RETURN_IF_ERROR(check_writable(m_volume.read_only()));
  return run_task(
      m_admin_mutex, m_rebalance_mutex, m_rebalance, "adding " + path, [&]() -> Result<uint32_t> {
        DFS_ASSIGN_OR_RETURN(auto index, m_volume.add_disk(path, create_size, force));
        const Superblock& sb = m_volume.superblock(index);
        auto a = m_alloc.add_disk(sb.data_start, sb.disk_size);
        if (!a.is_ok()) return a.status();
        if (a.value() != index)
          return Status::error(EUCLEAN, "allocator and volume disagree on disk count");
        m_volume.scheduler(index).set_workers(io_workers);
        {
          std::lock_guard lk(m_rebalance_mutex);
          m_rebalance.task = "restoring copies after adding disk " + std::to_string(index);
        }
        // Extents written while a disk was failed get their copies back.
        DFS_RETURN_IF_ERROR(rebalance_all(3));
        DFS_RETURN_IF_ERROR(m_sync_all());
        return index;
      });
}

Status DataPlacement::remove_disk(uint32_t disk) {
  DFS_RETURN_IF_ERROR(check_writable(m_volume.read_only()));
  auto r = run_task(
      m_admin_mutex, m_rebalance_mutex, m_rebalance, "removing disk " + std::to_string(disk),
      [&]() -> Result<bool> {
        if (disk >= m_volume.disk_count() || m_volume.disk_state(disk) == DiskState::kRemoved)
          return Status::error(ENOENT, "the volume has no disk " + std::to_string(disk));
        // A snapshot's extents stay where they were written: moving them
        // would mean rewriting its frozen metadata.
        DFS_ASSIGN_OR_RETURN(auto snaps, SnapshotCatalog::list(m_volume.dir()));
        if (!snaps.empty()) {
          return Status::error(EBUSY,
                               "cannot remove disk " + std::to_string(disk) + ": the volume has " +
                                   std::to_string(snaps.size()) +
                                   " snapshot(s), whose data stays on the disks it was "
                                   "written to; delete them first (dynamicfs snapshot delete)");
        }
        size_t others = 0;
        uint64_t room = 0;
        for (size_t i = 0; i < m_volume.disk_count(); ++i) {
          if (i == disk || m_volume.disk_state(i) != DiskState::kOnline) continue;
          ++others;
          auto sp = m_alloc.space(static_cast<uint32_t>(i));
          room += sp.free + sp.deferred;
        }
        if (others < m_volume.replicas()) {
          return Status::error(
              EINVAL, "cannot remove disk " + std::to_string(disk) + ": the " +
                          std::to_string(others) + " other online disk(s) cannot hold the " +
                          std::to_string(m_volume.replicas()) + " copies every extent needs");
        }
        auto sp = m_alloc.space(disk);
        const uint64_t used = sp.used();
        if (used > room) {
          return Status::error(ENOSPC, "cannot remove disk " + std::to_string(disk) +
                                           ": it holds " + std::to_string(used >> 20) +
                                           " MiB, the other disks " + "have " +
                                           std::to_string(room >> 20) + " MiB free");
        }
        const bool was_online = m_volume.disk_state(disk) == DiskState::kOnline;
        // No tiering pass may place copies while the disk drains.
        auto tier_lk = m_tiering.hold_passes();
        m_volume.set_draining(disk, true);
        m_rebalance_cancel = false;
        Status st = rebalance_all(3);
        if (st.is_ok()) st = m_sync_all();
        auto left = st.is_ok() ? extents_on(disk) : Result<uint64_t>(st);
        if (left.is_ok() && left.value() > 0) {
          left = Status::error(EBUSY, std::to_string(left.value()) +
                                          " extents still have a copy on disk " +
                                          std::to_string(disk) + " (busy files); try again");
        }
        if (!left.is_ok()) {
          if (was_online) m_volume.set_draining(disk, false);
          return left.status();
        }
        DFS_RETURN_IF_ERROR(m_volume.finish_remove(disk));
        m_alloc.retire(disk);
        return true;
      });
  return r.status();
}

}  // namespace dynamicfs

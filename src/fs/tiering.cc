// Tiering: the ssd class's share of new data and the migration pass (see
// tiering.h).
#include "src/fs/tiering.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <chrono>

#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"

namespace dynamicfs {

namespace {

constexpr unsigned kFastFillLimit = 95;  // % of an ssd disk new data may fill

uint64_t wall_seconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

DiskMask copies_mask(const ExtentRecord& e) {
  DiskMask m = 0;
  for (const auto& c : e.copies) m |= DiskMask{1} << c.disk;
  return m;
}

}  // namespace

Tiering::Tiering(Volume& volume, Allocator& alloc, const InodeStore& inodes,
                 const BackgroundScheduler& jobs, MoveCopies move)
    : m_volume(volume),
      m_alloc(alloc),
      m_inodes(inodes),
      m_jobs(jobs),
      m_move(std::move(move)),
      m_read_only(volume.read_only()) {}

void Tiering::set_settings(const TierSettings& t) {
  std::lock_guard lk(m_mutex);
  m_settings = t;
  if (m_settings.low_water >= m_settings.high_water)
    m_settings.low_water = m_settings.high_water * 9 / 10;
  m_on = m_settings.enabled;
}

TierSettings Tiering::settings() const {
  std::lock_guard lk(m_mutex);
  return m_settings;
}

Tiering::Masks Tiering::masks() const {
  const DiskMask writable = m_volume.writable_mask();
  const DiskMask ssd = m_volume.class_mask(DiskClass::kSsd) & writable;
  return {ssd, writable & ~ssd};
}

bool Tiering::refresh_active() {
  const Masks m = masks();
  const bool active = !m_read_only && m_on.load() && m.ssd != 0 && m.hdd != 0;
  m_active.store(active, std::memory_order_relaxed);
  return active;
}

void Tiering::note_access(uint64_t ino) {
  // Reads are only worth recording while there is somewhere to move to.
  if (!m_active.load(std::memory_order_relaxed)) return;
  m_access.note(ino, wall_seconds());
}

uint64_t Tiering::last_access(uint64_t ino) const {
  uint64_t t = m_access.last_read(ino);
  auto rec = m_inodes.load(ino);
  if (rec.is_ok()) t = std::max<uint64_t>(t, static_cast<uint64_t>(rec->mtime.sec));
  return t;
}

TierClassUse Tiering::class_use(DiskMask mask) const {
  TierClassUse u;
  for (uint32_t d = 0; d < m_alloc.disk_count(); ++d) {
    if (((mask >> d) & 1) == 0) continue;
    DiskSpace sp = m_alloc.space(d);
    ++u.disks;
    u.capacity += sp.capacity;
    u.used += sp.used();
  }
  return u;
}

Result<std::optional<Tiering::Placement>> Tiering::allocate(uint64_t length, size_t copies,
                                                            uint64_t may_use_reserved) {
  const std::optional<Placement> not_here;  // the caller places the data anywhere
  const auto [ssd, hdd] = masks();
  if (!m_on.load(std::memory_order_relaxed) || ssd == 0 || hdd == 0) return not_here;
  DiskMask room = 0;
  for (uint32_t d = 0; d < m_alloc.disk_count(); ++d) {
    if (((ssd >> d) & 1) == 0) continue;
    DiskSpace sp = m_alloc.space(d);
    if (sp.used() + length <= sp.capacity / 100 * kFastFillLimit) room |= DiskMask{1} << d;
  }
  const size_t on_ssd = std::min<size_t>(copies, static_cast<size_t>(std::popcount(room)));
  if (on_ssd == 0) return not_here;  // the ssd class is full
  auto fast = on_ssd == 1 && copies == 1 ? [&]() -> Result<std::vector<std::vector<DiskRange>>> {
    DFS_ASSIGN_OR_RETURN(auto one, m_alloc.allocate(length, room, may_use_reserved));
    return std::vector<std::vector<DiskRange>>{std::move(one)};
  }()
      : m_alloc.allocate_copies(length, on_ssd, room, may_use_reserved);
  if (!fast.is_ok() && fast.err() == ENOSPC) return not_here;
  if (!fast.is_ok()) return fast.status();
  if (on_ssd == copies) return std::optional<Placement>(std::move(fast).value());
  // What the fast copies took of the file's reservation is gone from it.
  const uint64_t taken = on_ssd * block_buffer::align_up(length);
  auto slow = m_alloc.allocate_copies(length, copies - on_ssd, hdd,
                                      may_use_reserved - std::min(may_use_reserved, taken));
  if (!slow.is_ok()) {
    for (const auto& c : fast.value()) m_alloc.free_now(c);
    if (slow.err() == ENOSPC) return not_here;
    return slow.status();
  }
  auto out = std::move(fast).value();
  for (auto& c : slow.value()) out.push_back(std::move(c));
  return std::optional<Placement>(std::move(out));
}

Status Tiering::migrate_file(uint64_t ino, DiskMask from, DiskMask to, size_t max_moves,
                             uint64_t* moved_bytes, uint64_t* moved_extents) {
  // Collected first: moving copies writes records of this inode.
  DFS_ASSIGN_OR_RETURN(auto records, m_inodes.raw_extents(ino));
  const DiskMask writable = m_volume.writable_mask();
  for (const auto& [key, value] : records) {
    if (m_jobs.stopping()) break;
    DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode(value));
    if (e.is_ec()) continue;
    std::vector<ExtentCopy> keep;
    std::vector<DiskRange> dropped;
    for (const auto& c : e.copies) {
      if (dropped.size() < max_moves && ((from >> c.disk) & 1) != 0) {
        dropped.push_back(DiskRange{c.disk, c.offset, e.length});
      } else {
        keep.push_back(c);
      }
    }
    if (dropped.empty()) continue;
    DiskMask taken = 0;
    for (const auto& c : keep) taken |= DiskMask{1} << c.disk;
    const DiskMask allowed = to & writable & ~taken;
    if (static_cast<size_t>(std::popcount(allowed)) < dropped.size()) continue;
    Status st = m_move(key, value, e, keep, dropped, dropped.size(), allowed);
    if (st.err() == ENOSPC) return st;  // the target class is full: stop here
    if (!st.is_ok()) {
      spdlog::warn("tiering: moving inode {} failed: {}", ino, st.to_string());
      continue;
    }
    *moved_bytes += e.length * dropped.size();
    ++*moved_extents;
  }
  return Status::ok();
}

Status Tiering::run_pass() {
  if (m_read_only) return Status::ok();
  std::lock_guard pass_lk(m_pass_mutex);
  const TierSettings t = settings();
  if (!refresh_active()) return Status::ok();
  const auto [ssd, hdd] = masks();
  m_passes.fetch_add(1, std::memory_order_relaxed);
  TierClassUse use = class_use(ssd);
  const uint64_t high = use.capacity / 100 * t.high_water;
  const uint64_t low = use.capacity / 100 * t.low_water;
  const bool demote = use.used > high;
  if (!demote && use.used >= low) return Status::ok();
  // Below the low water mark only reads make work: skip the scan when no
  // file was read within hot_seconds.
  if (!demote && m_access.last_read_any() + t.hot_seconds < wall_seconds()) return Status::ok();

  // Bytes each file holds on ssd disks, and whether it has extents with no
  // ssd copy, from one scan of the extent map.
  struct FileUse {
    uint64_t ino = 0, on_ssd = 0, off_ssd = 0, last = 0, read = 0;
  };
  std::vector<FileUse> files;
  {
    auto it = m_volume.meta().iterator(Cf::kExtents);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t ino = KeyCodec::extent_key_ino({it->key().data(), it->key().size()});
      DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode({it->value().data(), it->value().size()}));
      if (e.is_ec()) continue;  // stripes stay where they were coded
      if (files.empty() || files.back().ino != ino) files.push_back(FileUse{ino, 0, 0, 0, 0});
      const DiskMask where = copies_mask(e);
      if ((where & ssd) != 0) {
        files.back().on_ssd += e.length * std::popcount(where & ssd);
      } else {
        files.back().off_ssd += e.length;
      }
    }
    DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "extent scan"));
  }
  if (demote) {
    std::erase_if(files, [](const FileUse& f) { return f.on_ssd == 0; });
    for (auto& f : files) f.last = last_access(f.ino);
    // Coldest first, until the class is back at the low water mark.
    std::sort(files.begin(), files.end(),
              [](const FileUse& a, const FileUse& b) { return a.last < b.last; });
    uint64_t over = use.used - low;
    for (const auto& f : files) {
      if (over == 0 || m_jobs.stopping()) break;
      if (f.on_ssd == 0) continue;
      uint64_t bytes = 0, extents = 0;
      Status st = migrate_file(f.ino, ssd, hdd, Volume::kMaxDisks, &bytes, &extents);
      m_demoted_bytes.fetch_add(bytes);
      m_demoted_extents.fetch_add(extents);
      over -= std::min(over, bytes);
      if (st.err() == ENOSPC) break;
    }
    return Status::ok();
  }
  // Below the low water mark: recently read files not on the class yet,
  // most recent first, while they fit under it. (New data is written
  // there already; only reads make a file hot again.)
  const uint64_t now = wall_seconds();
  for (auto& f : files) f.read = m_access.last_read(f.ino);
  std::sort(files.begin(), files.end(),
            [](const FileUse& a, const FileUse& b) { return a.read > b.read; });
  uint64_t room = low - use.used;
  for (const auto& f : files) {
    if (m_jobs.stopping() || f.read == 0 || f.read + t.hot_seconds < now) break;
    if (f.off_ssd == 0 || f.off_ssd > room) continue;
    uint64_t bytes = 0, extents = 0;
    Status st = migrate_file(f.ino, hdd, ssd, 1, &bytes, &extents);
    m_promoted_bytes.fetch_add(bytes);
    m_promoted_extents.fetch_add(extents);
    room -= std::min(room, bytes);
    if (st.err() == ENOSPC) break;
  }
  return Status::ok();
}

TierStats Tiering::stats() const {
  TierStats s;
  const Masks m = masks();
  s.ssd = class_use(m.ssd);
  s.hdd = class_use(m.hdd);
  s.active = !m_read_only && m_on.load() && s.ssd.disks > 0 && s.hdd.disks > 0;
  s.demoted_bytes = m_demoted_bytes.load();
  s.promoted_bytes = m_promoted_bytes.load();
  s.demoted_extents = m_demoted_extents.load();
  s.promoted_extents = m_promoted_extents.load();
  s.passes = m_passes.load();
  return s;
}

}  // namespace dynamicfs

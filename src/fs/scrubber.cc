// Scrubber: sequential verification of all extents at Background priority.
#include "src/fs/scrubber.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "metadata/extent_record.h"
#include "metadata/key_codec.h"
#include "src/extent/extent_space.h"

namespace dynamicfs {

Result<ScrubReport> Scrubber::run() {
  ScrubReport report;
  m_bytes_done = 0;
  auto& meta = m_fs.volume().meta();
  // One consistent view of the extent map for the whole pass.
  const rocksdb::Snapshot* snap = meta.db()->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::unique_ptr<rocksdb::Iterator> it(meta.db()->NewIterator(ro, meta.handle(Cf::kExtents)));
  // The throttle paces bytes since the last rate change.
  uint64_t paced_rate = m_rate;
  auto pace_start = std::chrono::steady_clock::now();
  uint64_t pace_bytes = 0;
  std::set<std::pair<uint32_t, uint64_t>> stripes;  // first unit of each stripe verified
  for (it->SeekToFirst(); it->Valid() && !m_cancel; it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    std::string_view value(it->value().data(), it->value().size());
    auto ext = ExtentRecord::decode(value);
    if (!ext.is_ok() || key.size() != 16) {
      report.problems.push_back(
          "malformed extent record of inode " +
          std::to_string(key.size() >= 8 ? KeyCodec::extent_key_ino(key) : 0));
      continue;
    }
    // A stripe is verified whole once, however many windows it has.
    if (ext->is_ec() && !stripes.insert({ext->copies[0].disk, ext->copies[0].offset}).second)
      continue;
    // Extents rewritten since the snapshot are skipped: their old space
    // may be reused, and the new ones are fresh.
    bool live = false;
    auto check = m_fs.scrub_extent(key, value, IoClass::kBackground, &live);
    if (!check.is_ok()) {
      Status st = check.status();
      it.reset();
      meta.db()->ReleaseSnapshot(snap);
      return st;
    }
    if (live && (check->bad_blocks > 0 || check->read_errors > 0)) {
      report.checksum_errors += check->bad_blocks;
      report.read_errors += check->read_errors;
      report.repaired += check->repaired;
      report.unrepaired += check->lost;
      std::string where = check->detail;
      if (check->repaired > 0) where += " (" + std::to_string(check->repaired) + " repaired)";
      if (check->lost > 0) where += " (" + std::to_string(check->lost) + " with no good copy)";
      spdlog::error("scrub: {}", where);
      if (report.problems.size() < 20) report.problems.push_back(where);
    }
    // Bytes read: every copy (progress is measured against used space).
    const uint64_t bytes = space_bytes(ext.value());
    ++report.extents;
    report.bytes += bytes;
    m_bytes_done += bytes;
    uint64_t rate = m_rate;
    if (rate != paced_rate) {
      paced_rate = rate;
      pace_start = std::chrono::steady_clock::now();
      pace_bytes = 0;
    }
    pace_bytes += bytes;
    if (rate > 0) {
      // Throttle: never run ahead of the requested rate.
      auto due = pace_start + std::chrono::microseconds(pace_bytes * 1000000 / rate);
      std::this_thread::sleep_until(due);
    }
  }
  Status st = status_from_rocksdb(it->status(), "scrub scan");
  it.reset();
  meta.db()->ReleaseSnapshot(snap);
  if (!st.is_ok()) return st;
  return report;
}

}  // namespace dynamicfs

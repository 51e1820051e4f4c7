// Scrubber: sequential verification of all extents at Background priority.
#include "src/fs/scrubber.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <thread>

#include "metadata/extent_record.h"
#include "metadata/key_codec.h"
#include "src/common/crc32c.h"

namespace dynamicfs {

Result<ScrubReport> Scrubber::run() {
  ScrubReport report;
  m_bytes_done = 0;
  auto& meta = m_volume.meta();
  // One consistent view of the extent map for the whole pass.
  const rocksdb::Snapshot* snap = meta.db()->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::unique_ptr<rocksdb::Iterator> it(meta.db()->NewIterator(ro, meta.handle(Cf::kExtents)));
  std::vector<char> buf;
  // The throttle paces bytes since the last rate change.
  uint64_t paced_rate = m_rate;
  auto pace_start = std::chrono::steady_clock::now();
  uint64_t pace_bytes = 0;
  for (it->SeekToFirst(); it->Valid() && !m_cancel; it->Next()) {
    std::string key = it->key().ToString();
    auto ext = ExtentRecord::decode({it->value().data(), it->value().size()});
    if (!ext.is_ok()) {
      report.problems.push_back("malformed extent record of inode " +
                                std::to_string(KeyCodec::extent_key_ino(key)));
      continue;
    }
    if (ext->disk >= m_volume.disk_count()) continue;
    buf.resize(ext->length);
    Status st = m_volume.scheduler(ext->disk).read(buf.data(), ext->length, ext->disk_offset,
                                                   IoClass::kBackground);
    uint64_t bad = 0;
    if (st.is_ok()) {
      for (uint32_t b = 0; b < ext->blocks(); ++b) {
        if (crc32c(buf.data() + static_cast<size_t>(b) * ExtentRecord::kBlock,
                   ExtentRecord::kBlock) != ext->crcs[b]) {
          ++bad;
        }
      }
    }
    if (!st.is_ok() || bad > 0) {
      // The file may have been rewritten since the snapshot (its old space
      // reused): only report what the live extent map still references.
      auto live = meta.get(Cf::kExtents, key);
      bool still_there = live.is_ok() && live->has_value() && **live == it->value().ToString();
      if (still_there) {
        std::string where = "inode " + std::to_string(KeyCodec::extent_key_ino(key)) + " offset " +
                            std::to_string(KeyCodec::extent_key_offset(key)) + " disk " +
                            std::to_string(ext->disk);
        if (!st.is_ok()) {
          ++report.read_errors;
          where += ": " + st.to_string();
        } else {
          report.checksum_errors += bad;
          where += ": " + std::to_string(bad) + " block(s) fail their checksum";
        }
        spdlog::error("scrub: {}", where);
        if (report.problems.size() < 20) report.problems.push_back(where);
      }
    }
    ++report.extents;
    report.bytes += ext->length;
    m_bytes_done += ext->length;
    uint64_t rate = m_rate;
    if (rate != paced_rate) {
      paced_rate = rate;
      pace_start = std::chrono::steady_clock::now();
      pace_bytes = 0;
    }
    pace_bytes += ext->length;
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

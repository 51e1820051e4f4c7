// ReplicaIo: the copies of extents on disk. With replicas > 1 every extent
// has a copy on each of several disks; this is where that is made true and
// used. A write sends every copy to its disk at the same time; a read goes to
// the least busy healthy copy and falls back to the others block by block on
// an I/O error or a checksum mismatch, so it returns good data while any copy
// holds it and EIO (never wrong bytes) when none does. Bad copies found by a
// read are rewritten from the good data in the background; a disk that
// returns I/O errors is marked failed (Volume::mark_failed).
//
// Rewriting a copy in place is safe because extents are immutable: the bytes
// written are the ones the checksums promise. The space cannot have been
// reused meanwhile, because each repair holds a duplicate of the reader pin
// under which the extent was seen live.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metadata/extent_record.h"
#include "src/common/erasure_code.h"
#include "src/extent/allocator.h"
#include "src/extent/extent_cache.h"
#include "src/extent/reader_tracker.h"
#include "src/extent/volume.h"
#include "src/io/background_scheduler.h"
#include "src/io/job_queue.h"

namespace dynamicfs {

// Where the bytes being read belong, for log lines.
struct ReadSite {
  uint64_t ino = 0;
  uint64_t file_off = 0;  // of the first block read
};

struct CopyCheck {
  uint64_t bad_blocks = 0;   // blocks failing their checksum, over all copies
  uint64_t read_errors = 0;  // copies that could not be read
  uint64_t repaired = 0;     // blocks rewritten from a good copy
  uint64_t lost = 0;         // blocks with no good copy left
  std::string detail;        // first problem, for reports
};

class ReplicaIo {
 public:
  static constexpr uint64_t kBlock = ExtentRecord::kBlock;
  static constexpr uint32_t kMaxExtent = 4u << 20;  // bytes per record
  static constexpr size_t kMaxQueuedRepairs = 256;

  // `cache` (may be null) serves and keeps verified foreground reads.
  // Repairs run as JOBS' "repair" job, which drains its queue when it stops.
  ReplicaIo(Volume& volume, ReaderTracker& readers, BackgroundScheduler& jobs,
            ExtentCache* cache = nullptr);
  ReplicaIo(const ReplicaIo&) = delete;
  ReplicaIo& operator=(const ReplicaIo&) = delete;

  // Records for `data` laid out as `copies` (each one list of pieces on one
  // disk, as Allocator::allocate_copies returns; one copy may spill over
  // several disks), then writes every copy. On an error `failed_disk` names
  // the disk that failed; nothing is written to the extent map here.
  // `journaled`: the caller commits the data in the WAL with the records
  // (JournalBlob), so a sync round need not sync the disks for it.
  Status write(const char* data, const std::vector<std::vector<DiskRange>>& copies,
               uint64_t generation, std::vector<ExtentRecord>* out, uint32_t* failed_disk,
               IoClass cls = IoClass::kWrite, bool journaled = false);

  // One erasure-coded stripe (stripe_io.cc): `data` (length bytes, more
  // than k - 1 units' worth) as scheme.k data units, the last zero-padded,
  // and scheme.m parity units; unit i goes to units[i] (all of one length,
  // on distinct disks). `out` is the record of the whole stripe.
  Status write_stripe(const char* data, uint64_t length, const EcScheme& scheme,
                      const std::vector<DiskRange>& units, uint64_t generation, ExtentRecord* out,
                      uint32_t* failed_disk, IoClass cls = IoClass::kWrite);

  // Reads blocks [first, first + count) of `e` into `dst` (4 KiB aligned),
  // verified. The caller holds `pin`, taken before it read `e` from the
  // extent map. Foreground reads (kHighRead, kNormalRead) go through the
  // extent cache; others read the disks.
  Status read(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst, IoClass cls,
              const ReaderTracker::Pin& pin, const ReadSite& site);

  // Scrub: reads and verifies every copy of `e` and rewrites bad blocks of
  // any copy from a good one before returning. The caller holds a pin.
  CopyCheck check_all(const ExtentRecord& e, IoClass cls, const ReadSite& site);

  // One more completed write to `disk` (sync bookkeeping: VolumeSync syncs
  // the disks whose counts moved). writes() counts all of them; plain_writes()
  // those whose data is not also in the WAL, which metadata may only point at
  // once the disk is synced.
  void note_write(uint32_t disk, bool journaled = false) {
    if (!journaled) m_plain_writes[disk].fetch_add(1, std::memory_order_relaxed);
    m_writes[disk].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t writes(size_t disk) const { return m_writes[disk].load(std::memory_order_relaxed); }
  uint64_t plain_writes(size_t disk) const {
    return m_plain_writes[disk].load(std::memory_order_relaxed);
  }
  uint64_t checksum_errors() const { return m_checksum_errors.load(); }
  uint64_t repairs() const { return m_repairs.load(); }
  // Blocks of stripes rebuilt from the other units (reads and scrub).
  uint64_t rebuilt() const { return m_rebuilt.load(); }
  // Blocks found bad with no good copy to serve or repair from.
  uint64_t unrepaired() const { return m_unrepaired.load(); }
  // Waits until every queued repair has been written (shutdown, tests).
  void drain_repairs();

 private:
  struct RepairJob {
    uint32_t disk = 0;
    uint64_t offset = 0;
    std::string data;
    ReaderTracker::Pin pin;
    std::string where;
  };
  // Copies in the order to try: healthy ones, least busy first, then failed.
  std::vector<const ExtentCopy*> read_order(const ExtentRecord& e) const;
  void note_io_error(uint32_t disk, const Status& st);
  // read() without the cache: every copy in read_order, block by block.
  Status read_disks(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst, IoClass cls,
                    const ReaderTracker::Pin& pin, const ReadSite& site);
  // read_disks and check_all of an erasure-coded extent (stripe_io.cc).
  Status read_stripe(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst, IoClass cls,
                     const ReaderTracker::Pin& pin, const ReadSite& site);
  CopyCheck check_stripe(const ExtentRecord& e, IoClass cls, const ReadSite& site);
  Status write_repair(const RepairJob& job);
  void queue_repair(RepairJob job);
  // Writes every queued repair (the repair job's pass).
  void run_repairs();

  Volume& m_volume;
  ReaderTracker& m_readers;
  ExtentCache* m_cache;
  std::array<std::atomic<uint64_t>, Volume::kMaxDisks> m_writes{};
  std::array<std::atomic<uint64_t>, Volume::kMaxDisks> m_plain_writes{};
  std::atomic<uint64_t> m_checksum_errors{0};
  std::atomic<uint64_t> m_repairs{0};
  std::atomic<uint64_t> m_rebuilt{0};
  std::atomic<uint64_t> m_unrepaired{0};
  mutable std::atomic<uint64_t> m_turn{0};

  BackgroundScheduler& m_jobs;
  JobQueue<RepairJob> m_repair_queue;
  BackgroundScheduler::JobId m_repair_job = 0;
};

}  // namespace dynamicfs

// ReplicaIo: parallel copy writes, least-busy reads with per-block fallback,
// and the background repair queue.
#include "src/extent/replica_io.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "src/common/crc32c.h"
#include "src/extent/block_buffer.h"

namespace dynamicfs {

namespace {

using block_buffer::block_ok;
using AlignedPtr = block_buffer::Ptr;

std::string site_text(const ReadSite& site, uint64_t block, uint32_t disk) {
  return "inode " + std::to_string(site.ino) + " offset " +
         std::to_string(site.file_off + block * ReplicaIo::kBlock) + " disk " +
         std::to_string(disk);
}

}  // namespace

ReplicaIo::ReplicaIo(Volume& volume, ReaderTracker& readers, BackgroundScheduler& jobs,
                     ExtentCache* cache)
    : m_volume(volume), m_readers(readers), m_cache(cache), m_jobs(jobs) {
  BackgroundScheduler::Job job;
  job.name = "repair";
  job.pass = [this] { run_repairs(); };
  job.finish = [this] {
    m_repair_queue.close();  // later bad reads are left for the next scrub
    run_repairs();
  };
  m_repair_job = m_jobs.start(std::move(job));
}

Status ReplicaIo::write(const char* data, const std::vector<std::vector<DiskRange>>& copies,
                        uint64_t generation, std::vector<ExtentRecord>* out, uint32_t* failed_disk,
                        IoClass cls, bool journaled) {
  out->clear();
  if (copies.empty()) return Status::error(EINVAL, "write with no copies");
  uint64_t total = 0;
  for (const auto& p : copies.front()) total += p.length;
  // Records end wherever any copy's piece ends (and at kMaxExtent), so each
  // record's copies are contiguous on their disks.
  std::vector<size_t> piece(copies.size(), 0);
  std::vector<uint64_t> used(copies.size(), 0);  // bytes used of the current piece
  for (uint64_t pos = 0; pos < total;) {
    uint64_t len = std::min<uint64_t>(kMaxExtent, total - pos);
    for (size_t c = 0; c < copies.size(); ++c)
      len = std::min(len, copies[c][piece[c]].length - used[c]);
    ExtentRecord e;
    e.length = static_cast<uint32_t>(len);
    e.generation = generation;
    for (size_t c = 0; c < copies.size(); ++c) {
      const DiskRange& r = copies[c][piece[c]];
      e.copies.push_back(ExtentCopy{r.disk, r.offset + used[c]});
      used[c] += len;
      if (used[c] == r.length) {
        ++piece[c];
        used[c] = 0;
      }
    }
    e.crcs.resize(len / kBlock);
    for (uint64_t b = 0; b < len / kBlock; ++b) e.crcs[b] = crc32c(data + pos + b * kBlock, kBlock);
    out->push_back(std::move(e));
    pos += len;
  }
  // One job per piece of every copy, all disks at once.
  std::vector<iovec> iovs;
  std::vector<IoJob> jobs;
  size_t n = 0;
  for (const auto& c : copies) n += c.size();
  iovs.reserve(n);
  jobs.reserve(n);
  std::vector<std::pair<IoScheduler*, IoJob*>> run;
  std::vector<uint32_t> disks;
  for (const auto& c : copies) {
    uint64_t pos = 0;
    for (const DiskRange& r : c) {
      iovs.push_back(iovec{const_cast<char*>(data + pos), r.length});
      IoJob job;
      job.op = IoJob::Op::kWrite;
      job.cls = cls;
      job.iov = &iovs.back();
      job.iovcnt = 1;
      job.offset = r.offset;
      jobs.push_back(std::move(job));
      run.emplace_back(&m_volume.scheduler(r.disk), &jobs.back());
      disks.push_back(r.disk);
      pos += r.length;
    }
  }
  IoScheduler::run_parallel(run);
  Status first_error;
  for (size_t i = 0; i < jobs.size(); ++i) {
    note_write(disks[i], journaled);
    if (!jobs[i].result.is_ok() && first_error.is_ok()) {
      first_error = jobs[i].result;
      *failed_disk = disks[i];
      note_io_error(disks[i], jobs[i].result);
    }
  }
  if (!first_error.is_ok()) out->clear();
  return first_error;
}

std::vector<const ExtentCopy*> ReplicaIo::read_order(const ExtentRecord& e) const {
  std::vector<const ExtentCopy*> order;
  for (const auto& c : e.copies)
    if (c.disk < m_volume.disk_count()) order.push_back(&c);
  auto rank = [&](const ExtentCopy* c) {
    bool failed = m_volume.disk_state(c->disk) == DiskState::kFailed;
    return std::make_pair(failed, m_volume.scheduler(c->disk).load());
  };
  if (order.size() > 1) {
    // Equally busy copies take turns, so reads spread over the disks.
    std::rotate(order.begin(),
                order.begin() + static_cast<std::ptrdiff_t>(
                                    m_turn.fetch_add(1, std::memory_order_relaxed) % order.size()),
                order.end());
    std::stable_sort(order.begin(), order.end(),
                     [&](const ExtentCopy* a, const ExtentCopy* b) { return rank(a) < rank(b); });
  }
  return order;
}

void ReplicaIo::note_io_error(uint32_t disk, const Status& st) {
  // Out of space or a stopping scheduler is not the disk's fault.
  if (st.err() == ENOSPC || st.err() == ESHUTDOWN) return;
  m_volume.mark_failed(disk, st.to_string());
}

Status ReplicaIo::read(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst,
                       IoClass cls, const ReaderTracker::Pin& pin, const ReadSite& site) {
  // Stripes bypass the cache: it knows extents by one copy's location.
  if (e.is_ec()) return read_stripe(e, first, count, dst, cls, pin, site);
  const bool cached = m_cache != nullptr && !e.copies.empty() &&
                      (cls == IoClass::kHighRead || cls == IoClass::kNormalRead);
  // The cache knows the extent by its first copy; the bytes are the same
  // in every copy.
  const uint64_t cache_off = cached ? e.copies[0].offset + first * kBlock : 0;
  if (cached && m_cache->get(e.copies[0].disk, cache_off, count * kBlock, e.generation, dst))
    return Status::ok();
  Status st = read_disks(e, first, count, dst, cls, pin, site);
  if (cached && st.is_ok())
    m_cache->put(e.copies[0].disk, cache_off, count * kBlock, e.generation, dst);
  return st;
}

Status ReplicaIo::read_disks(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst,
                             IoClass cls, const ReaderTracker::Pin& pin, const ReadSite& site) {
  if (e.is_ec()) return read_stripe(e, first, count, dst, cls, pin, site);
  auto order = read_order(e);
  std::vector<uint8_t> missing(count, 1);
  uint64_t left = count;
  // Blocks each copy got wrong: rewritten once a good copy is found.
  std::vector<std::pair<const ExtentCopy*, std::vector<uint64_t>>> bad;
  AlignedPtr tmp;
  Status io_error;
  for (size_t i = 0; i < order.size() && left > 0; ++i) {
    const ExtentCopy& c = *order[i];
    // Only the span that still lacks good data.
    uint64_t lo = 0, hi = count;
    while (!missing[lo]) ++lo;
    while (!missing[hi - 1]) --hi;
    char* buf = dst + lo * kBlock;
    if (i > 0) {
      if (!tmp) tmp = block_buffer::make(count * kBlock);
      buf = tmp.get();
    }
    Status st = m_volume.scheduler(c.disk).read(buf, (hi - lo) * kBlock,
                                                c.offset + (first + lo) * kBlock, cls);
    if (!st.is_ok()) {
      note_io_error(c.disk, st);
      spdlog::error("read of {} failed: {}", site_text(site, lo, c.disk), st.to_string());
      io_error = st;
      continue;
    }
    std::vector<uint64_t> wrong;
    for (uint64_t b = lo; b < hi; ++b) {
      if (!missing[b]) continue;
      const char* p = buf + (b - lo) * kBlock;
      if (!block_ok(p, e.crcs[first + b])) {
        wrong.push_back(b);
        continue;
      }
      if (i > 0) std::memcpy(dst + b * kBlock, p, kBlock);
      missing[b] = 0;
      --left;
    }
    if (!wrong.empty()) {
      m_checksum_errors.fetch_add(wrong.size());
      spdlog::error("checksum mismatch in {} ({} block(s)){}",
                    site_text(site, wrong.front(), c.disk), wrong.size(),
                    i + 1 < order.size() ? "; trying another copy" : "");
      bad.emplace_back(&c, std::move(wrong));
    }
  }
  // Rewrite what the bad copies got wrong, where good data was found.
  for (auto& [copy, blocks] : bad) {
    for (size_t k = 0; k < blocks.size();) {
      size_t j = k;
      while (j + 1 < blocks.size() && blocks[j + 1] == blocks[j] + 1 && !missing[blocks[j + 1]])
        ++j;
      if (missing[blocks[k]]) {
        ++k;
        continue;
      }
      RepairJob job;
      job.disk = copy->disk;
      job.offset = copy->offset + (first + blocks[k]) * kBlock;
      job.data.assign(dst + blocks[k] * kBlock, (j - k + 1) * kBlock);
      job.pin = m_readers.duplicate(pin);
      job.where = site_text(site, blocks[k], copy->disk);
      queue_repair(std::move(job));
      k = j + 1;
    }
  }
  if (left == 0) return Status::ok();
  uint64_t b = 0;
  while (!missing[b]) ++b;
  if (!bad.empty() || io_error.is_ok()) {
    m_unrepaired.fetch_add(left);
    return Status::error(EIO, "checksum mismatch in inode " + std::to_string(site.ino) +
                                  " at offset " + std::to_string(site.file_off + b * kBlock) +
                                  ": no good copy left");
  }
  return Status::error(EIO, "cannot read inode " + std::to_string(site.ino) + " at offset " +
                                std::to_string(site.file_off + b * kBlock) +
                                " from any copy: " + io_error.message());
}

CopyCheck ReplicaIo::check_all(const ExtentRecord& e, IoClass cls, const ReadSite& site) {
  if (e.is_ec()) return check_stripe(e, cls, site);
  CopyCheck out;
  const uint64_t count = e.blocks();
  std::vector<AlignedPtr> bufs;
  std::vector<bool> readable;
  for (const auto& c : e.copies) {
    bufs.push_back(block_buffer::make(e.length));
    Status st = c.disk < m_volume.disk_count()
                    ? m_volume.scheduler(c.disk).read(bufs.back().get(), e.length, c.offset, cls)
                    : Status::error(ENODEV, "no such disk");
    if (!st.is_ok()) {
      if (c.disk < m_volume.disk_count()) note_io_error(c.disk, st);
      ++out.read_errors;
      if (out.detail.empty()) out.detail = site_text(site, 0, c.disk) + ": " + st.to_string();
    }
    readable.push_back(st.is_ok());
  }
  for (uint64_t b = 0; b < count; ++b) {
    int good = -1;
    std::vector<size_t> wrong;
    for (size_t i = 0; i < e.copies.size(); ++i) {
      if (!readable[i]) continue;
      if (block_ok(bufs[i].get() + b * kBlock, e.crcs[b])) {
        if (good < 0) good = static_cast<int>(i);
      } else {
        wrong.push_back(i);
      }
    }
    out.bad_blocks += wrong.size();
    for (size_t i : wrong) {
      if (out.detail.empty())
        out.detail = site_text(site, b, e.copies[i].disk) + ": block fails its checksum";
      if (good < 0) continue;
      RepairJob job;
      job.disk = e.copies[i].disk;
      job.offset = e.copies[i].offset + b * kBlock;
      job.data.assign(bufs[static_cast<size_t>(good)].get() + b * kBlock, kBlock);
      job.where = site_text(site, b, job.disk);
      if (write_repair(job).is_ok()) ++out.repaired;
    }
    if (good < 0) ++out.lost;
  }
  m_checksum_errors.fetch_add(out.bad_blocks);
  m_unrepaired.fetch_add(out.lost);
  return out;
}

Status ReplicaIo::write_repair(const RepairJob& job) {
  auto buf = block_buffer::make(job.data.size());
  std::memcpy(buf.get(), job.data.data(), job.data.size());
  iovec iov{buf.get(), job.data.size()};
  Status st = m_volume.scheduler(job.disk).writev(&iov, 1, job.offset, IoClass::kBackground);
  note_write(job.disk);
  if (!st.is_ok()) {
    note_io_error(job.disk, st);
    spdlog::error("repair of {} failed: {}", job.where, st.to_string());
    return st;
  }
  m_repairs.fetch_add(job.data.size() / kBlock);
  spdlog::warn("repaired {} ({} block(s)) from another copy", job.where, job.data.size() / kBlock);
  return Status::ok();
}

void ReplicaIo::queue_repair(RepairJob job) {
  if (m_volume.read_only()) {
    // A snapshot mount: the live volume's daemon or scrub repairs the copy.
    spdlog::warn("{} read from another copy; not repaired from a read-only snapshot mount",
                 job.where);
    return;
  }
  std::string where = job.where;
  if (!m_repair_queue.push(std::move(job), kMaxQueuedRepairs)) {
    spdlog::warn("repair queue full; {} is left for the next scrub", where);
    return;
  }
  m_jobs.wake(m_repair_job);
}

void ReplicaIo::drain_repairs() {
  m_repair_queue.drain();
}

void ReplicaIo::run_repairs() {
  while (auto job = m_repair_queue.take()) {
    (void)write_repair(*job);
    job->pin.release();
    m_repair_queue.done();
  }
}

}  // namespace dynamicfs

// ReplicaIo for erasure-coded extents: a stripe write sends the k data units
// and the m parity units ISA-L computed to their disks at once; a read takes
// each block from its data unit and, for blocks whose unit cannot be read or
// fails its checksum, rebuilds the row from k other verified units, checks
// the result against the block's crc and queues a rewrite of the bad unit
// block. Scrub reads every unit of the stripe, window or not.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "src/common/crc32c.h"
#include "src/common/erasure_code.h"
#include "src/extent/block_buffer.h"
#include "src/extent/replica_io.h"

namespace dynamicfs {

namespace {

using block_buffer::block_ok;
using AlignedPtr = block_buffer::Ptr;

std::string unit_text(const ReadSite& site, uint64_t block, uint32_t unit, uint32_t disk) {
  return "inode " + std::to_string(site.ino) + " offset " +
         std::to_string(site.file_off + block * ReplicaIo::kBlock) + " (stripe unit " +
         std::to_string(unit) + ", disk " + std::to_string(disk) + ")";
}

// The rows [r0, r1) of every unit of a stripe, read and verified.
struct StripeRows {
  uint64_t r0 = 0, r1 = 0;
  std::vector<AlignedPtr> bufs;            // per unit, (r1 - r0) blocks
  std::vector<std::vector<uint8_t>> good;  // per unit and row: verified
  std::vector<std::vector<uint8_t>> bad;   // per unit and row: read, but failed its crc
  char* at(size_t unit, uint64_t row) const {
    return bufs[unit].get() + (row - r0) * ReplicaIo::kBlock;
  }
};

}  // namespace

Status ReplicaIo::write_stripe(const char* data, uint64_t length, const EcScheme& scheme,
                               const std::vector<DiskRange>& units, uint64_t generation,
                               ExtentRecord* out, uint32_t* failed_disk, IoClass cls) {
  const size_t n = scheme.units();
  if (units.size() != n || units.empty())
    return Status::error(EINVAL, "stripe write with the wrong number of units");
  const uint64_t unit_len = units[0].length;
  const uint64_t ublocks = unit_len / kBlock;
  if (length == 0 || length % kBlock != 0 || length > scheme.k * unit_len)
    return Status::error(EINVAL, "stripe write of a length that does not fit its units");
  DFS_ASSIGN_OR_RETURN(auto code, ErasureCode::make(scheme));
  // Data units point into `data`, except a partial one, which is padded,
  // and any after the data ends (ceil(blocks / k) per unit can leave the last
  // units empty), which are zeros.
  AlignedPtr pad, zeros;
  std::vector<const char*> unit_data(n);
  for (size_t i = 0; i < scheme.k; ++i) {
    const uint64_t at = i * unit_len;
    if (at + unit_len <= length) {
      unit_data[i] = data + at;
    } else if (at < length) {
      pad = block_buffer::make(unit_len);
      std::memset(pad.get(), 0, unit_len);
      std::memcpy(pad.get(), data + at, length - at);
      unit_data[i] = pad.get();
    } else {
      if (!zeros) {
        zeros = block_buffer::make(unit_len);
        std::memset(zeros.get(), 0, unit_len);
      }
      unit_data[i] = zeros.get();
    }
  }
  std::vector<AlignedPtr> parity;
  std::vector<const uint8_t*> in;
  std::vector<uint8_t*> outp;
  for (size_t i = 0; i < scheme.k; ++i)
    in.push_back(reinterpret_cast<const uint8_t*>(unit_data[i]));
  for (size_t j = 0; j < scheme.m; ++j) {
    parity.push_back(block_buffer::make(unit_len));
    outp.push_back(reinterpret_cast<uint8_t*>(parity.back().get()));
    unit_data[scheme.k + j] = parity.back().get();
  }
  code.encode(in, outp, unit_len);

  ExtentRecord e;
  e.length = static_cast<uint32_t>(length);
  e.generation = generation;
  e.ec_k = static_cast<uint8_t>(scheme.k);
  e.ec_m = static_cast<uint8_t>(scheme.m);
  e.unit_blocks = static_cast<uint32_t>(ublocks);
  e.crcs.reserve(n * ublocks);
  for (size_t i = 0; i < n; ++i) {
    e.copies.push_back(ExtentCopy{units[i].disk, units[i].offset});
    for (uint64_t b = 0; b < ublocks; ++b)
      e.crcs.push_back(crc32c(unit_data[i] + b * kBlock, kBlock));
  }
  std::vector<iovec> iovs(n);
  std::vector<IoJob> jobs(n);
  std::vector<std::pair<IoScheduler*, IoJob*>> run;
  for (size_t i = 0; i < n; ++i) {
    iovs[i] = iovec{const_cast<char*>(unit_data[i]), unit_len};
    jobs[i].op = IoJob::Op::kWrite;
    jobs[i].cls = cls;
    jobs[i].iov = &iovs[i];
    jobs[i].iovcnt = 1;
    jobs[i].offset = units[i].offset;
    run.emplace_back(&m_volume.scheduler(units[i].disk), &jobs[i]);
  }
  IoScheduler::run_parallel(run);
  Status first_error;
  for (size_t i = 0; i < n; ++i) {
    note_write(units[i].disk);
    if (!jobs[i].result.is_ok() && first_error.is_ok()) {
      first_error = jobs[i].result;
      *failed_disk = units[i].disk;
      note_io_error(units[i].disk, jobs[i].result);
    }
  }
  if (first_error.is_ok()) *out = std::move(e);
  return first_error;
}

namespace {

// Reads rows [r0, r1) of every unit of `e` that `want` selects; verified
// against the stripe's crcs.
template <typename ReadUnit>
void read_rows(const ExtentRecord& e, uint64_t r0, uint64_t r1, const std::vector<bool>& want,
               StripeRows* rows, ReadUnit read_unit) {
  const size_t n = e.copies.size();
  rows->r0 = r0;
  rows->r1 = r1;
  rows->bufs.resize(n);
  rows->good.assign(n, std::vector<uint8_t>(r1 - r0, 0));
  rows->bad.assign(n, std::vector<uint8_t>(r1 - r0, 0));
  for (size_t u = 0; u < n; ++u) {
    if (!want[u]) continue;
    rows->bufs[u] = block_buffer::make((r1 - r0) * ReplicaIo::kBlock);
    if (!read_unit(u, rows->bufs[u].get(), r0, r1)) continue;
    for (uint64_t r = r0; r < r1; ++r) {
      const bool ok = block_ok(rows->at(u, r), e.crcs[u * e.unit_blocks + r]);
      (ok ? rows->good : rows->bad)[u][r - r0] = 1;
    }
  }
}

}  // namespace

Status ReplicaIo::read_stripe(const ExtentRecord& e, uint64_t first, uint64_t count, char* dst,
                              IoClass cls, const ReaderTracker::Pin& pin, const ReadSite& site) {
  const size_t n = e.copies.size();
  const uint64_t ub = e.unit_blocks;
  auto usable = [&](size_t u) {
    const uint32_t d = e.copies[u].disk;
    return d < m_volume.disk_count() && m_volume.disk_state(d) != DiskState::kFailed &&
           m_volume.disk_state(d) != DiskState::kRemoved;
  };
  // The data blocks straight from their units, all units at once.
  const uint64_t d0 = e.skip + first, d1 = d0 + count;
  std::vector<IoJob> jobs;
  std::vector<uint32_t> job_unit;
  jobs.reserve(n);
  std::vector<std::pair<IoScheduler*, IoJob*>> run;
  std::vector<uint8_t> missing(count, 1);
  for (uint64_t u = d0 / ub; u * ub < d1; ++u) {
    if (!usable(u)) continue;
    const uint64_t lo = std::max(d0, u * ub), hi = std::min(d1, (u + 1) * ub);
    IoJob job;
    job.op = IoJob::Op::kRead;
    job.cls = cls;
    job.read_buf = dst + (lo - d0) * kBlock;
    job.len = (hi - lo) * kBlock;
    job.offset = e.copies[u].offset + (lo - u * ub) * kBlock;
    jobs.push_back(std::move(job));
    job_unit.push_back(static_cast<uint32_t>(u));
  }
  for (size_t j = 0; j < jobs.size(); ++j)
    run.emplace_back(&m_volume.scheduler(e.copies[job_unit[j]].disk), &jobs[j]);
  IoScheduler::run_parallel(run);
  uint64_t bad_blocks = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const uint32_t u = job_unit[j];
    const uint64_t lo = std::max(d0, u * ub), hi = std::min(d1, (u + 1) * ub);
    if (!jobs[j].result.is_ok()) {
      note_io_error(e.copies[u].disk, jobs[j].result);
      spdlog::error("read of {} failed: {}; rebuilding it from the other units",
                    unit_text(site, lo - d0, u, e.copies[u].disk), jobs[j].result.to_string());
      continue;
    }
    for (uint64_t d = lo; d < hi; ++d) {
      if (block_ok(dst + (d - d0) * kBlock, e.crcs[d])) {
        missing[d - d0] = 0;
      } else {
        ++bad_blocks;
      }
    }
  }
  uint64_t lo = 0, hi = count;
  while (lo < count && !missing[lo]) ++lo;
  if (lo == count) return Status::ok();
  while (!missing[hi - 1]) --hi;
  if (bad_blocks > 0) {
    m_checksum_errors.fetch_add(bad_blocks);
    spdlog::error("checksum mismatch in {} ({} block(s)); rebuilding from the other units",
                  unit_text(site, lo, e.unit_of(first + lo), e.copies[e.unit_of(first + lo)].disk),
                  bad_blocks);
  }
  // Rebuild: the rows the missing blocks span, from every unit (failed disks
  // too, last resort), then per row from any k verified units.
  uint64_t r0 = ub, r1 = 0;
  for (uint64_t b = lo; b < hi; ++b) {
    if (!missing[b]) continue;
    r0 = std::min(r0, e.row_of(first + b));
    r1 = std::max(r1, e.row_of(first + b) + 1);
  }
  StripeRows rows;
  read_rows(e, r0, r1, std::vector<bool>(n, true), &rows,
            [&](size_t u, char* buf, uint64_t a, uint64_t z) {
              const uint32_t d = e.copies[u].disk;
              if (d >= m_volume.disk_count() || m_volume.disk_state(d) == DiskState::kRemoved)
                return false;
              Status st = m_volume.scheduler(d).read(buf, (z - a) * kBlock,
                                                     e.copies[u].offset + a * kBlock, cls);
              if (!st.is_ok() && usable(u)) note_io_error(d, st);
              return st.is_ok();
            });
  DFS_ASSIGN_OR_RETURN(auto code, ErasureCode::make(EcScheme{e.ec_k, e.ec_m}));
  uint64_t lost = 0, first_lost = 0;
  for (uint64_t r = r0; r < r1; ++r) {
    std::vector<uint8_t*> ptrs(n);
    std::vector<bool> present(n);
    size_t have = 0, absent = 0;
    for (size_t u = 0; u < n; ++u) {
      ptrs[u] = reinterpret_cast<uint8_t*>(rows.bufs[u] ? rows.at(u, r) : nullptr);
      present[u] = rows.good[u][r - r0] != 0;
      have += present[u] ? 1 : 0;
      absent += present[u] ? 0 : 1;
    }
    // Window blocks the first pass missed but this one read well.
    for (size_t u = 0; u < e.ec_k; ++u) {
      const uint64_t d = u * ub + r;
      if (present[u] && d >= d0 + lo && d < d0 + hi && missing[d - d0]) {
        std::memcpy(dst + (d - d0) * kBlock, ptrs[u], kBlock);
        missing[d - d0] = 0;
      }
    }
    if (absent == 0) continue;
    // Buffers for units with nothing read, so every absent unit is rebuilt.
    std::vector<AlignedPtr> scratch;
    for (size_t u = 0; u < n; ++u) {
      if (ptrs[u] != nullptr) continue;
      scratch.push_back(block_buffer::make(kBlock));
      ptrs[u] = reinterpret_cast<uint8_t*>(scratch.back().get());
    }
    const bool rebuilt = have >= e.ec_k && code.reconstruct(ptrs, present, kBlock).is_ok();
    for (size_t u = 0; u < n; ++u) {
      if (present[u]) continue;
      const char* p = reinterpret_cast<const char*>(ptrs[u]);
      const bool ok = rebuilt && block_ok(p, e.crcs[u * ub + r]);
      // A window block of this unit and row?
      const uint64_t d = u * ub + r;
      const bool in_window = u < e.ec_k && d >= d0 + lo && d < d0 + hi;
      if (in_window && missing[d - d0]) {
        if (ok) {
          std::memcpy(dst + (d - d0) * kBlock, p, kBlock);
          missing[d - d0] = 0;
          m_rebuilt.fetch_add(1);
        } else if (lost++ == 0) {
          first_lost = d - d0;
        }
      }
      // A unit block that was read but wrong is rewritten from the rebuild.
      if (ok && rows.bad[u][r - r0]) {
        RepairJob job;
        job.disk = e.copies[u].disk;
        job.offset = e.copies[u].offset + r * kBlock;
        job.data.assign(p, kBlock);
        job.pin = m_readers.duplicate(pin);
        job.where = unit_text(site, in_window ? d - d0 : 0, static_cast<uint32_t>(u), job.disk);
        queue_repair(std::move(job));
      }
    }
  }
  if (lost == 0) return Status::ok();
  m_unrepaired.fetch_add(lost);
  return Status::error(EIO, "inode " + std::to_string(site.ino) + " at offset " +
                                std::to_string(site.file_off + first_lost * kBlock) +
                                ": fewer than " + std::to_string(e.ec_k) +
                                " good units of its stripe are left");
}

CopyCheck ReplicaIo::check_stripe(const ExtentRecord& e, IoClass cls, const ReadSite& site) {
  CopyCheck out;
  const size_t n = e.copies.size();
  const uint64_t ub = e.unit_blocks;
  StripeRows rows;
  read_rows(e, 0, ub, std::vector<bool>(n, true), &rows,
            [&](size_t u, char* buf, uint64_t a, uint64_t z) {
              const uint32_t d = e.copies[u].disk;
              Status st = d < m_volume.disk_count()
                              ? m_volume.scheduler(d).read(buf, (z - a) * kBlock,
                                                           e.copies[u].offset + a * kBlock, cls)
                              : Status::error(ENODEV, "no such disk");
              if (!st.is_ok()) {
                if (d < m_volume.disk_count()) note_io_error(d, st);
                ++out.read_errors;
                if (out.detail.empty())
                  out.detail =
                      unit_text(site, 0, static_cast<uint32_t>(u), d) + ": " + st.to_string();
              }
              return st.is_ok();
            });
  auto code = ErasureCode::make(EcScheme{e.ec_k, e.ec_m});
  if (!code.is_ok()) {
    out.detail = code.status().to_string();
    return out;
  }
  for (uint64_t r = 0; r < ub; ++r) {
    std::vector<uint8_t*> ptrs(n);
    std::vector<bool> present(n);
    size_t have = 0, bad = 0;
    std::vector<AlignedPtr> scratch;
    for (size_t u = 0; u < n; ++u) {
      present[u] = rows.good[u][r] != 0;
      have += present[u] ? 1 : 0;
      bad += rows.bad[u][r];
      if (rows.bufs[u]) {
        ptrs[u] = reinterpret_cast<uint8_t*>(rows.at(u, r));
      } else {
        scratch.push_back(block_buffer::make(kBlock));
        ptrs[u] = reinterpret_cast<uint8_t*>(scratch.back().get());
      }
      if (rows.bad[u][r] && out.detail.empty())
        out.detail = unit_text(site, 0, static_cast<uint32_t>(u), e.copies[u].disk) +
                     ": a block fails its checksum";
    }
    out.bad_blocks += bad;
    if (have == n) continue;
    if (have < e.ec_k || !code->reconstruct(ptrs, present, kBlock).is_ok()) {
      for (size_t u = 0; u < e.ec_k; ++u) out.lost += present[u] ? 0 : 1;  // data blocks
      continue;
    }
    for (size_t u = 0; u < n; ++u) {
      if (!rows.bad[u][r]) continue;
      RepairJob job;
      job.disk = e.copies[u].disk;
      job.offset = e.copies[u].offset + r * kBlock;
      job.data.assign(reinterpret_cast<const char*>(ptrs[u]), kBlock);
      job.where = unit_text(site, 0, static_cast<uint32_t>(u), job.disk);
      if (!block_ok(job.data.data(), e.crcs[u * ub + r])) continue;
      m_rebuilt.fetch_add(1);
      if (write_repair(job).is_ok()) ++out.repaired;
    }
  }
  m_checksum_errors.fetch_add(out.bad_blocks);
  m_unrepaired.fetch_add(out.lost);
  return out;
}

}  // namespace dynamicfs

// Disk: one pooled device, a block device or a plain file, accessed with
// positional I/O. It knows nothing of extents or metadata; it only moves
// bytes and reports real errno values.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "src/common/result.h"
#include "src/io/fault_plan.h"

namespace dynamicfs {

class Disk {
 public:
  ~Disk();
  Disk(const Disk&) = delete;
  Disk& operator=(const Disk&) = delete;

  // Opens PATH read-write. A missing file is an error (ENOENT) unless
  // create_size > 0, in which case a sparse file of that size is created.
  static Result<std::unique_ptr<Disk>> open(const std::string& path, uint64_t create_size = 0);
  // Opens PATH read-only (for tools that inspect a disk without changing it,
  // possibly while it is in use); writes then fail with EBADF.
  static Result<std::unique_ptr<Disk>> open_read_only(const std::string& path);
  // A disk of the volume that could not be opened: every I/O fails with
  // ENODEV, so the volume serves from the other copies.
  static std::unique_ptr<Disk> missing(const std::string& path, uint64_t size);
  bool is_missing() const { return m_fd < 0; }

  Status read_at(void* buf, size_t len, uint64_t offset) const;
  Status write_at(const void* buf, size_t len, uint64_t offset) const;
  Status writev_at(const struct iovec* iov, int iovcnt, uint64_t offset) const;
  Status sync() const;
  // Tells the device that [offset, offset + len) holds nothing worth keeping
  // (BLKDISCARD on a block device, a punched hole in a file), so an SSD or
  // thin pool can reuse it and a disk file gives the blocks back. The bytes
  // read there afterwards are unspecified. EOPNOTSUPP when the device or
  // file system cannot.
  Status discard(uint64_t offset, uint64_t len) const;
  // Takes an exclusive flock on the disk, held until it is closed, so other
  // processes (a second mount, replicate fetch) can see it is in use. EBUSY
  // if another open file already holds one.
  Status hold_exclusive() const;

  const std::string& path() const { return m_path; }
  uint64_t size() const { return m_size; }
  bool is_block_device() const { return m_block_device; }
  // True when the device (or the device under the file) is rotational.
  bool rotational() const { return m_rotational; }
  // Tests only: faults to inject from now on (nullptr: none).
  void set_fault_plan(std::shared_ptr<FaultPlan> plan) { m_faults = std::move(plan); }
  // Tests only: undoes the writes the plan journaled since the last sync.
  Result<size_t> power_loss(bool random_subset, uint64_t seed) const;

 private:
  Disk(std::string path, int fd, uint64_t size, bool block_device, bool rotational);
  static Result<std::unique_ptr<Disk>> open_with(const std::string& path, int flags,
                                                 uint64_t create_size);
  std::string m_path;
  int m_fd;
  uint64_t m_size;
  bool m_block_device;
  bool m_rotational;
  std::shared_ptr<FaultPlan> m_faults;
};

}  // namespace dynamicfs

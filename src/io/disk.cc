// Disk: positional I/O on files and block devices, looping over short
// reads/writes and retrying EINTR.
#include "src/io/disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <vector>

namespace dynamicfs {

namespace {

bool read_rotational(dev_t dev) {
  // /sys/dev/block/MAJ:MIN/queue/rotational exists for whole disks; for a
  // partition the queue directory lives one level up.
  std::string base =
      "/sys/dev/block/" + std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  for (const char* rel : {"/queue/rotational", "/../queue/rotational"}) {
    std::ifstream in(base + rel);
    int v = 0;
    if (in >> v) return v != 0;
  }
  return false;
}

}  // namespace

Disk::Disk(std::string path, int fd, uint64_t size, bool block_device, bool rotational)
    : m_path(std::move(path)),
      m_fd(fd),
      m_size(size),
      m_block_device(block_device),
      m_rotational(rotational) {}

Disk::~Disk() {
  if (m_fd >= 0) ::close(m_fd);
}

Result<std::unique_ptr<Disk>> Disk::open(const std::string& path, uint64_t create_size) {
  int flags = O_RDWR | O_CLOEXEC;
  if (create_size > 0) flags |= O_CREAT;
  return open_with(path, flags, create_size);
}

Status Disk::hold_exclusive() const {
  if (m_fd < 0) return Status::ok();
  if (::flock(m_fd, LOCK_EX | LOCK_NB) == 0) return Status::ok();
  if (errno == EWOULDBLOCK) {
    return Status::error(EBUSY, "disk " + m_path + " is in use by another process");
  }
  return Status::from_errno("cannot lock disk " + m_path);
}

std::unique_ptr<Disk> Disk::missing(const std::string& path, uint64_t size) {
  return std::unique_ptr<Disk>(new Disk(path, -1, size, false, false));
}

Result<std::unique_ptr<Disk>> Disk::open_read_only(const std::string& path) {
  return open_with(path, O_RDONLY | O_CLOEXEC, 0);
}

Result<std::unique_ptr<Disk>> Disk::open_with(const std::string& path, int flags,
                                              uint64_t create_size) {
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return Status::from_errno("cannot open disk " + path);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    Status s = Status::from_errno("cannot stat disk " + path);
    ::close(fd);
    return s;
  }
  uint64_t size = 0;
  bool blockdev = S_ISBLK(st.st_mode);
  if (blockdev) {
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
      Status s = Status::from_errno("cannot read size of block device " + path);
      ::close(fd);
      return s;
    }
  } else if (S_ISREG(st.st_mode)) {
    size = static_cast<uint64_t>(st.st_size);
    if (size == 0 && create_size > 0) {
      if (ftruncate(fd, static_cast<off_t>(create_size)) != 0) {
        Status s = Status::from_errno("cannot size disk file " + path);
        ::close(fd);
        return s;
      }
      size = create_size;
    }
  } else {
    ::close(fd);
    return Status::error(EINVAL, "disk " + path + " is neither a block device nor a regular file");
  }
  bool rot = read_rotational(blockdev ? st.st_rdev : st.st_dev);
  return std::unique_ptr<Disk>(new Disk(path, fd, size, blockdev, rot));
}

Status Disk::read_at(void* buf, size_t len, uint64_t offset) const {
  if (m_fd < 0) return Status::error(ENODEV, "disk " + m_path + " is missing");
  if (m_faults && m_faults->read_errno() != 0)
    return Status::error(m_faults->read_errno(), "read of " + m_path + " (injected fault)");
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::pread(m_fd, p, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("read of " + m_path);
    }
    if (n == 0) return Status::error(EIO, "short read of " + m_path + " (beyond end of disk)");
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status Disk::write_at(const void* buf, size_t len, uint64_t offset) const {
  iovec iov{const_cast<void*>(buf), len};
  return writev_at(&iov, 1, offset);
}

Status Disk::writev_at(const struct iovec* iov_in, int iovcnt, uint64_t offset) const {
  if (m_fd < 0) return Status::error(ENODEV, "disk " + m_path + " is missing");
  // Copy so partial writes can advance the vector.
  std::vector<iovec> iov(iov_in, iov_in + iovcnt);
  std::unique_lock<std::mutex> powered;
  if (m_faults) {
    powered = m_faults->write_lock();
    if (m_faults->powered_off())
      return Status::error(EIO, "write to " + m_path + " after a power loss");
    if (m_faults->write_errno() != 0)
      return Status::error(m_faults->write_errno(), "write to " + m_path + " (injected fault)");
    uint64_t total = 0;
    for (const auto& v : iov) total += v.iov_len;
    uint64_t keep = m_faults->before_write(m_fd, offset, total);
    // A torn write: only the first KEEP bytes land, success is reported.
    for (size_t i = 0; i < iov.size(); ++i) {
      if (keep < iov[i].iov_len) {
        iov[i].iov_len = keep;
        iov.resize(i + 1);
        break;
      }
      keep -= iov[i].iov_len;
    }
  }
  size_t idx = 0;
  while (idx < iov.size()) {
    ssize_t n = ::pwritev(m_fd, iov.data() + idx, static_cast<int>(iov.size() - idx),
                          static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::from_errno("write to " + m_path);
    }
    offset += static_cast<uint64_t>(n);
    auto left = static_cast<size_t>(n);
    while (idx < iov.size() && left >= iov[idx].iov_len) {
      left -= iov[idx].iov_len;
      ++idx;
    }
    if (idx < iov.size()) {
      iov[idx].iov_base = static_cast<char*>(iov[idx].iov_base) + left;
      iov[idx].iov_len -= left;
    }
  }
  return Status::ok();
}

Status Disk::sync() const {
  if (m_fd < 0) return Status::error(ENODEV, "disk " + m_path + " is missing");
  const size_t mark = m_faults ? m_faults->sync_begins() : 0;
  if (m_faults && m_faults->write_errno() != 0)
    return Status::error(m_faults->write_errno(), "fdatasync of " + m_path + " (injected fault)");
  if (m_faults && m_faults->powered_off())
    return Status::error(EIO, "fdatasync of " + m_path + " after a power loss");
  if (m_faults) m_faults->sync_gate();  // a slow device: the power may go meanwhile
  if (::fdatasync(m_fd) != 0) return Status::from_errno("fdatasync of " + m_path);
  if (m_faults && !m_faults->sync_done(mark))
    return Status::error(EIO, "fdatasync of " + m_path + " cut short by a power loss");
  return Status::ok();
}

Status Disk::discard(uint64_t offset, uint64_t len) const {
  if (m_fd < 0) return Status::error(ENODEV, "disk " + m_path + " is missing");
  if (len == 0) return Status::ok();
  std::unique_lock<std::mutex> powered;
  if (m_faults) {
    powered = m_faults->write_lock();
    if (m_faults->powered_off())
      return Status::error(EIO, "discard on " + m_path + " after a power loss");
  }
  int rc = 0;
  if (m_block_device) {
    uint64_t range[2] = {offset, len};
    rc = ::ioctl(m_fd, BLKDISCARD, range);
  } else {
    rc = ::fallocate(m_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                     static_cast<off_t>(len));
  }
  if (rc == 0) return Status::ok();
  // Devices and file systems without discard answer EOPNOTSUPP (or ENOTTY).
  if (errno == ENOTTY || errno == EOPNOTSUPP)
    return Status::error(EOPNOTSUPP, "disk " + m_path + " does not support discard");
  return Status::from_errno("discard on " + m_path);
}

Result<size_t> Disk::power_loss(bool random_subset, uint64_t seed) const {
  if (!m_faults) return Status::error(EINVAL, "no fault plan on " + m_path);
  return m_faults->power_loss(m_fd, random_subset, seed);
}

}  // namespace dynamicfs

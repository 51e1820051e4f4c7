// FdXattrOps: descriptor-slot and xattr operations of the model test.
#include "model_fd_xattr_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace dynamicfs::model {

Op FdXattrOps::setxattr() {
  std::string path = m_picks.file();
  std::string name = m_rng.pick(kXattrNames);
  uint64_t r = m_rng.below(100);
  std::string value = m_rng.bytes(r < 10 ? 0 : r < 70 ? m_rng.below(32) : m_rng.below(256));
  static const std::array<int, 4> flag_choices = {0, 0, XATTR_CREATE, XATTR_REPLACE};
  int flags = m_rng.pick(flag_choices);
  bool nofollow = m_rng.percent(20);
  std::string desc = std::string(nofollow ? "lsetxattr(" : "setxattr(") + path + ", " + name +
                     ", " + printable(value, 16) + ", flags=" + std::to_string(flags) + ")";
  return {
      desc, false, [=](Side& s) {
        auto fn = nofollow ? ::lsetxattr : ::setxattr;
        return result_of(fn(s.abs(path).c_str(), name.c_str(), value.data(), value.size(), flags));
      }};
}

Op FdXattrOps::getxattr() {
  std::string path = m_picks.file();
  std::string name = m_rng.pick(kXattrNames);
  static const std::array<size_t, 5> sizes = {0, 1, 4, 64, 1024};
  size_t size = m_rng.pick(sizes);  // small sizes provoke ERANGE
  bool nofollow = m_rng.percent(20);
  return {std::string(nofollow ? "lgetxattr(" : "getxattr(") + path + ", " + name +
              ", size=" + std::to_string(size) + ")",
          false, [=](Side& s) {
            std::string buf(size, '\0');
            auto fn = nofollow ? ::lgetxattr : ::getxattr;
            ssize_t n = fn(s.abs(path).c_str(), name.c_str(), size ? buf.data() : nullptr, size);
            Outcome o = result_of(n);
            if (n >= 0 && size > 0) {
              o.data = buf.substr(0, static_cast<size_t>(n));
            }
            return o;
          }};
}

Op FdXattrOps::listxattr() {
  std::string path = m_picks.any_path();
  static const std::array<size_t, 4> sizes = {0, 1, 8, 4096};
  size_t size = m_rng.pick(sizes);
  bool nofollow = m_rng.percent(20);
  return {std::string(nofollow ? "llistxattr(" : "listxattr(") + path +
              ", size=" + std::to_string(size) + ")",
          false, [=](Side& s) {
            std::string buf(size, '\0');
            auto fn = nofollow ? ::llistxattr : ::listxattr;
            ssize_t n = fn(s.abs(path).c_str(), size ? buf.data() : nullptr, size);
            Outcome o = result_of(n);
            if (n > 0 && size > 0) {
              // Order is unspecified; compare the sorted set of names.
              std::vector<std::string> names;
              for (size_t i = 0; i < static_cast<size_t>(n);) {
                std::string nm(buf.c_str() + i);
                names.push_back(nm);
                i += nm.size() + 1;
              }
              std::sort(names.begin(), names.end());
              for (const auto& nm : names) o.data += nm + ";";
            }
            return o;
          }};
}

Op FdXattrOps::removexattr() {
  std::string path = m_picks.file();
  std::string name = m_rng.pick(kXattrNames);
  return {"removexattr(" + path + ", " + name + ")", false,
          [=](Side& s) { return result_of(::removexattr(s.abs(path).c_str(), name.c_str())); }};
}

int FdXattrOps::random_slot() {
  return static_cast<int>(m_rng.below(kFdSlots));
}

int FdXattrOps::random_open_slot() {
  int start = random_slot();
  for (int i = 0; i < kFdSlots; ++i) {
    int slot = (start + i) % kFdSlots;
    if (m_open[slot]) return slot;
  }
  return -1;
}

Op FdXattrOps::open_fd() {
  int slot = random_slot();
  std::string path = m_picks.file();
  static const std::array<int, 3> access = {O_RDONLY, O_WRONLY, O_RDWR};
  int flags = m_rng.pick(access);
  if (m_rng.percent(40)) flags |= O_CREAT;
  if ((flags & O_ACCMODE) != O_RDONLY) {
    if (m_rng.percent(20)) flags |= O_APPEND;
    if (m_rng.percent(10)) flags |= O_TRUNC;
  }
  std::ostringstream d;
  d << "open_fd(slot " << slot << ", " << path << ", flags=0" << std::oct << flags << ")";
  // Whether the slot ends up open is decided by the reference outcome;
  // a divergence fails the test anyway.
  bool* open_flag = &m_open[slot];
  return {d.str(), (flags & O_CREAT) != 0, [=](Side& s) {
            if (s.fds[slot] >= 0) close(s.fds[slot]);
            s.fds[slot] = open(s.abs(path).c_str(), flags | O_CLOEXEC, 0640);
            Outcome o = result_of(s.fds[slot] < 0 ? -1 : 0);
            *open_flag = s.fds[slot] >= 0;
            return o;
          }};
}

Op FdXattrOps::fd_write() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  bool positional = m_rng.percent(70);
  uint64_t off = m_picks.offset();
  auto data = std::make_shared<std::string>(m_rng.bytes(m_picks.length()));
  return {"fd_write(slot " + std::to_string(slot) +
              (positional ? ", pwrite off=" + std::to_string(off) : ", write") +
              ", len=" + std::to_string(data->size()) + ")",
          false, [=](Side& s) {
            ssize_t n = positional ? pwrite(s.fds[slot], data->data(), data->size(),
                                            static_cast<off_t>(off))
                                   : write(s.fds[slot], data->data(), data->size());
            Outcome o = result_of(n);
            if (n >= 0) o.ret = n;
            return o;
          }};
}

Op FdXattrOps::fd_read() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  bool positional = m_rng.percent(70);
  uint64_t off = m_picks.offset();
  uint64_t len = m_picks.length();
  return {"fd_read(slot " + std::to_string(slot) +
              (positional ? ", pread off=" + std::to_string(off) : ", read") +
              ", len=" + std::to_string(len) + ")",
          false, [=](Side& s) {
            std::string buf(len, '\0');
            ssize_t n = positional ? pread(s.fds[slot], buf.data(), len, static_cast<off_t>(off))
                                   : read(s.fds[slot], buf.data(), len);
            Outcome o = result_of(n);
            if (n >= 0) {
              o.ret = n;
              buf.resize(static_cast<size_t>(n));
              o.data = std::move(buf);
            }
            return o;
          }};
}

Op FdXattrOps::fd_ftruncate() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  uint64_t size = m_picks.truncate_size();
  return {"fd_ftruncate(slot " + std::to_string(slot) + ", " + std::to_string(size) + ")", false,
          [=](Side& s) { return result_of(ftruncate(s.fds[slot], static_cast<off_t>(size))); }};
}

Op FdXattrOps::fd_fsync() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  bool data_only = m_rng.percent(40);
  return {
      std::string(data_only ? "fd_fdatasync(slot " : "fd_fsync(slot ") + std::to_string(slot) + ")",
      false,
      [=](Side& s) { return result_of(data_only ? fdatasync(s.fds[slot]) : fsync(s.fds[slot])); }};
}

Op FdXattrOps::fd_fstat() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  return {"fd_fstat(slot " + std::to_string(slot) + ")", false, [=](Side& s) {
            struct stat st;
            int rc = fstat(s.fds[slot], &st);
            Outcome o = result_of(rc);
            // nlink is 0 once the file was unlinked while open.
            if (rc == 0) o.data = stat_summary(st);
            return o;
          }};
}

Op FdXattrOps::fd_close() {
  int slot = random_open_slot();
  if (slot < 0) return {};
  bool* open_flag = &m_open[slot];
  return {"fd_close(slot " + std::to_string(slot) + ")", false, [=](Side& s) {
            int rc = close(s.fds[slot]);
            s.fds[slot] = -1;
            *open_flag = false;
            return result_of(rc);
          }};
}

}  // namespace dynamicfs::model

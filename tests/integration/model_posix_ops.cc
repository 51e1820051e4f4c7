// PosixOps: the syscall sequences, each ending in an Outcome that must be
// equal on dynamicfs and on the host filesystem.
#include "model_posix_ops.h"

#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <memory>
#include <vector>

namespace dynamicfs::model {

namespace {

// The size after an operation, so a wrong size shows at once.
std::string size_of(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return "fstat failed";
  return "size=" + std::to_string(st.st_size);
}

}  // namespace

bool PosixOps::supports_zero_range(const std::string& dir) {
  const std::string probe = dir + "/.zero_range_probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096) == 0;
  ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

Op PosixOps::fallocate() {
  std::vector<std::pair<int, const char*>> modes = {
      {0, "0"},
      {FALLOC_FL_KEEP_SIZE, "KEEP_SIZE"},
      {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "PUNCH_HOLE|KEEP_SIZE"},
  };
  if (m_zero_range) {
    modes.push_back({FALLOC_FL_ZERO_RANGE, "ZERO_RANGE"});
    modes.push_back({FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "ZERO_RANGE|KEEP_SIZE"});
  }
  auto [mode, name] = modes[m_rng.below(modes.size())];
  std::string path = m_picks.file();
  uint64_t off = m_picks.offset();
  uint64_t len = 1 + m_rng.below(m_rng.percent(20) ? 1024 * kKiB : 64 * kKiB);
  return {"fallocate(" + path + ", " + name + ", off=" + std::to_string(off) +
              ", len=" + std::to_string(len) + ")",
          false, [=](Side& s) {
            int fd = ::open(s.abs(path).c_str(), O_RDWR | O_CLOEXEC);
            if (fd < 0) return failed_at("open");
            Outcome o =
                result_of(::fallocate(fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)));
            if (o.ret == 0) o.data = size_of(fd);
            ::close(fd);
            return o;
          }};
}

Op PosixOps::copy_range() {
  std::string src = m_picks.file();
  std::string dst = m_rng.percent(70) ? m_picks.file() : m_picks.any_path();
  const bool create = m_rng.percent(40);
  // Half the time the same offset within a block on both sides, so whole
  // blocks can be shared; otherwise anything.
  uint64_t in = m_picks.offset(), out = m_picks.offset();
  if (m_rng.percent(50)) out = out / 4096 * 4096 + in % 4096;
  uint64_t len = m_picks.length() * (m_rng.percent(30) ? 64 : 1);
  return {"copy_file_range(" + src + " off=" + std::to_string(in) + " -> " + dst +
              (create ? " (O_CREAT)" : "") + " off=" + std::to_string(out) +
              ", len=" + std::to_string(len) + ")",
          create, [=](Side& s) {
            int fin = ::open(s.abs(src).c_str(), O_RDONLY | O_CLOEXEC);
            if (fin < 0) return failed_at("open src");
            int fout =
                ::open(s.abs(dst).c_str(), O_WRONLY | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
            if (fout < 0) {
              Outcome o = failed_at("open dst");
              ::close(fin);
              return o;
            }
            // Loop like cp: a call may copy less than asked.
            loff_t pin = static_cast<loff_t>(in), pout = static_cast<loff_t>(out);
            long long total = 0;
            Outcome o;
            while (static_cast<uint64_t>(total) < len) {
              ssize_t n = ::copy_file_range(fin, &pin, fout, &pout, len - total, 0);
              if (n < 0) {
                if (total == 0) o = result_of(-1);
                break;
              }
              if (n == 0) break;
              total += n;
            }
            if (o.ret == 0) {
              o.ret = total;
              o.data = size_of(fout);
            }
            ::close(fin);
            ::close(fout);
            return o;
          }};
}

Op PosixOps::rename2() {
  std::string from = m_picks.any_path(), to = m_picks.any_path();
  const bool exchange = m_rng.percent(50);
  const unsigned flags = exchange ? RENAME_EXCHANGE : RENAME_NOREPLACE;
  return {std::string("renameat2(") + from + ", " + to +
              (exchange ? ", RENAME_EXCHANGE)" : ", RENAME_NOREPLACE)"),
          true, [=](Side& s) {
            return result_of(::syscall(SYS_renameat2, AT_FDCWD, s.abs(from).c_str(), AT_FDCWD,
                                       s.abs(to).c_str(), flags));
          }};
}

Op PosixOps::mmap_write() {
  std::string path = m_picks.file();
  // Where to write is fixed now but resolved against the size at run time
  // (identical on both sides while the trees agree).
  const uint64_t where = m_rng.next(), pos_seed = m_rng.next();
  auto data = std::make_shared<std::string>(m_rng.bytes(1 + m_rng.below(16 * kKiB)));
  const bool sync = m_rng.percent(50);
  return {
      "mmap_write(" + path + ", len=" + std::to_string(data->size()) + (sync ? ", msync)" : ")"),
      false, [=](Side& s) {
        int fd = ::open(s.abs(path).c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) return failed_at("open");
        struct stat st;
        if (::fstat(fd, &st) != 0) {
          Outcome o = failed_at("fstat");
          ::close(fd);
          return o;
        }
        if (!S_ISREG(st.st_mode) || st.st_size == 0) {
          ::close(fd);
          return Outcome{0, 0, "nothing to map"};
        }
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        const uint64_t map_off = (where % size) / 4096 * 4096;
        const uint64_t map_len = std::min<uint64_t>(size - map_off, 64 * kKiB);
        const uint64_t pos = pos_seed % map_len;
        const uint64_t n = std::min<uint64_t>(data->size(), map_len - pos);
        void* p = ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                         static_cast<off_t>(map_off));
        if (p == MAP_FAILED) {
          Outcome o = failed_at("mmap");
          ::close(fd);
          return o;
        }
        std::memcpy(static_cast<char*>(p) + pos, data->data(), n);
        Outcome o;
        if (sync && ::msync(p, map_len, MS_SYNC) != 0) o = failed_at("msync");
        ::munmap(p, map_len);
        if (o.ret == 0) {
          o.ret = static_cast<long long>(n);
          o.data = size_of(fd);
        }
        ::close(fd);
        return o;
      }};
}

}  // namespace dynamicfs::model

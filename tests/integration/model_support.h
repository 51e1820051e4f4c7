// Shared by the model test's parts: the deterministic RNG, what one syscall
// sequence returned (Outcome), one tree under test (Side) and a generated
// operation (Op). Header-only; used by model_test.cc and model_posix_ops.cc.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace dynamicfs::model {
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr int kFdSlots = 4;
// Files bigger than this are compared in windows, not byte for byte.
constexpr uint64_t kFullCompareLimit = 16 * kMiB;
constexpr size_t kMaxReportedDiffs = 25;
constexpr size_t kHistoryLength = 24;

const std::array<const char*, 5> kNames = {"a", "b", "c", "d", "e"};
const std::array<const char*, 4> kXattrNames = {"user.a", "user.b", "user.c",
                                                "user.a_rather_long_attribute_name_0123"};

inline uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

inline std::string errno_name(int err) {
  if (err == 0) return "0";
  const char* n = strerrorname_np(err);
  return n ? n : std::to_string(err);
}

inline std::string printable(const std::string& data, size_t limit = 48) {
  std::ostringstream os;
  os << "len=" << data.size() << " \"";
  for (size_t i = 0; i < data.size() && i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      os << c;
    } else {
      static const char* hex = "0123456789abcdef";
      os << "\\x" << hex[c >> 4] << hex[c & 15];
    }
  }
  if (data.size() > limit) os << "...";
  os << '"';
  return os.str();
}

// Deterministic RNG helpers (no std distributions, whose output is
// implementation defined, so a seed reproduces on every toolchain).
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  uint64_t next() { return gen_(); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool percent(unsigned p) { return below(100) < p; }
  template <typename T, size_t N>
  const T& pick(const std::array<T, N>& a) {
    return a[below(N)];
  }
  std::string bytes(size_t n) {
    std::string s(n, '\0');
    if (percent(10)) return s;  // all-zero data exercises hole handling
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = next();
      std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
    }
    return s;
  }

 private:
  std::mt19937_64 gen_;
};

// What one syscall sequence returned on one tree.
struct Outcome {
  long long ret = 0;
  int err = 0;
  std::string data;  // bytes read, names listed, stat summary, failing step
  bool operator==(const Outcome&) const = default;
};

inline std::string describe(const Outcome& o) {
  std::ostringstream os;
  os << "ret=" << o.ret << " errno=" << errno_name(o.err);
  if (!o.data.empty()) os << " data(" << printable(o.data) << ")";
  return os.str();
}

inline Outcome result_of(long long r) {
  return Outcome{r < 0 ? -1 : r, r < 0 ? errno : 0, {}};
}

inline Outcome failed_at(const char* step) {
  return Outcome{-1, errno, step};
}

inline std::string stat_summary(const struct stat& st) {
  std::ostringstream os;
  const char* type = S_ISREG(st.st_mode)   ? "reg"
                     : S_ISDIR(st.st_mode) ? "dir"
                     : S_ISLNK(st.st_mode) ? "lnk"
                                           : "other";
  os << type << " mode=" << std::oct << (st.st_mode & 07777) << std::dec << " uid=" << st.st_uid
     << " gid=" << st.st_gid << " nlink=" << st.st_nlink;
  // Directory sizes are filesystem specific; file and symlink sizes are not.
  if (!S_ISDIR(st.st_mode)) os << " size=" << st.st_size;
  return os.str();
}

// The entries of directory DIR but "." and "..", in readdir order; false
// (errno set) if it cannot be opened.
inline bool list_names(const std::string& dir, std::vector<std::string>* names) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  while (dirent* de = readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names->push_back(n);
  }
  closedir(d);
  return true;
}

// One tree under test: the dynamicfs mount or the host reference.
struct Side {
  std::string name;
  std::string root;
  std::array<int, kFdSlots> fds;
  Side(std::string n, std::string r) : name(std::move(n)), root(std::move(r)) { fds.fill(-1); }
  std::string abs(const std::string& rel) const { return root + "/" + rel; }
  void close_all() {
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
};

struct Op {
  std::string desc;
  bool changes_namespace = false;
  std::function<Outcome(Side&)> run;
};

}  // namespace dynamicfs::model

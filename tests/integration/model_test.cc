// Randomized differential ("model") test of the mounted filesystem.
//
// Why it exists: unit tests check components in isolation, but users only
// see POSIX semantics through the kernel's FUSE layer. This test applies the
// same long random sequence of syscalls to a dynamicfs mount and to a
// reference directory on the host filesystem (ext4/overlayfs) and demands
// identical return values, errno values and returned data after every
// operation, plus identical trees (types, modes, owners, sizes, nlink, hard
// link structure, contents, symlink targets, xattrs) at checkpoints and
// after remounts. Besides the basic namespace and file operations it runs
// fallocate, punch hole, copy_file_range, renameat2 and mmap writes
// (model_posix_ops.cc). Names come from a tiny pool so that operations collide
// (rename over existing files, rmdir of non-empty dirs, ...).
//
// Reproduce a failure with the printed seed:
//   MODEL_SEED=<seed> MODEL_OPS=<n> ./model_test
// Environment: MODEL_SEED (default: time), MODEL_OPS (default 100000),
// DYNAMICFS_BIN (binary), DYNAMICFS_KEEP_TMP=1 (keep the temp dir).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model_fd_xattr_ops.h"
#include "model_posix_ops.h"
#include "model_support.h"
#include "model_tree.h"
#include "mount_fixture.h"

namespace {

using dynamicfs::testing::integration_environment_ok;
using dynamicfs::testing::TestVolume;

using namespace dynamicfs::model;

class Model {
 public:
  Model(const std::string& mount_root, const std::string& reference_root, uint64_t seed,
        bool xattrs, bool zero_range)
      : rng_(seed),
        xattrs_(xattrs),
        mnt_("dynamicfs", mount_root),
        ref_("reference", reference_root),
        posix_(rng_, picks(), zero_range),
        fdx_(rng_, picks()) {}

  ModelPicks picks() {
    return ModelPicks{[this] { return pick_path(Prefer::kFile); },
                      [this] { return pick_path(Prefer::kAny); },
                      [this] { return random_offset(); }, [this] { return random_length(); },
                      [this] { return random_truncate_size(); }};
  }

  ~Model() {
    mnt_.close_all();
    ref_.close_all();
  }

  // Generates and applies one operation to both trees. Returns false (after
  // reporting a failure) if the outcomes differ.
  bool step(uint64_t index) {
    Op op = generate();
    history_.push_back(std::to_string(index) + ": " + op.desc);
    if (history_.size() > kHistoryLength) history_.pop_front();

    Outcome m = op.run(mnt_);
    Outcome r = op.run(ref_);
    if (op.changes_namespace && r.ret >= 0) paths_dirty_ = true;
    const std::string kind = op.desc.substr(0, op.desc.find('('));
    ++stats_[kind][r.ret < 0 ? errno_name(r.err) : std::string("ok")];
    if (!(m == r)) {
      ADD_FAILURE() << "operation #" << index << " diverged: " << op.desc
                    << "\n  dynamicfs: " << describe(m) << "\n  reference: " << describe(r)
                    << "\n  recent operations:\n"
                    << recent_history();
      return false;
    }
    return true;
  }

  // Prints how often each operation succeeded or failed with which errno,
  // so a run shows which behaviours it actually exercised.
  void print_stats() const {
    std::cout << "[model] outcomes per operation:" << std::endl;
    for (const auto& [kind, outcomes] : stats_) {
      std::cout << "  " << kind << ":";
      for (const auto& [what, count] : outcomes) {
        std::cout << " " << what << "=" << count;
      }
      std::cout << std::endl;
    }
  }

  // Closes all open descriptors (needed before a remount).
  void close_fds() {
    mnt_.close_all();
    ref_.close_all();
    fdx_.forget_fds();
  }

  // Compares the complete trees; reports a failure and returns false on any
  // difference.
  bool compare_trees(const std::string& when) {
    size_t entries = 0;
    std::vector<std::string> diffs =
        TreeComparison(mnt_, ref_, xattrs_, big_offsets_).differences(&entries);
    if (diffs.empty()) {
      std::cout << "[model] tree identical " << when << " (" << entries << " entries)" << std::endl;
      return true;
    }
    std::ostringstream os;
    for (size_t i = 0; i < diffs.size() && i < kMaxReportedDiffs; ++i) {
      os << "  " << diffs[i] << "\n";
    }
    ADD_FAILURE() << "trees differ " << when << " (" << diffs.size() << " differences):\n"
                  << os.str() << "  recent operations:\n"
                  << recent_history();
    return false;
  }

 private:
  // ---------------------------------------------------------------- paths
  std::string random_path() {
    unsigned r = static_cast<unsigned>(rng_.below(100));
    int depth = r < 40 ? 1 : r < 80 ? 2 : 3;
    std::string p = rng_.pick(kNames);
    for (int i = 1; i < depth; ++i) p += std::string("/") + rng_.pick(kNames);
    return p;
  }

  // Existing entries of the reference tree, by kind, sorted so that a seed
  // reproduces the same choices.
  struct ExistingPaths {
    std::vector<std::string> all, files, dirs, symlinks;
  };

  const ExistingPaths& existing_paths() {
    if (paths_dirty_) {
      existing_ = ExistingPaths{};
      collect_paths(ref_.root, "", existing_);
      for (auto* v : {&existing_.all, &existing_.files, &existing_.dirs, &existing_.symlinks}) {
        std::sort(v->begin(), v->end());
      }
      paths_dirty_ = false;
    }
    return existing_;
  }

  static void collect_paths(const std::string& root, const std::string& rel, ExistingPaths& out) {
    std::vector<std::string> names;
    if (!list_names(root + "/" + rel, &names)) return;
    for (const auto& n : names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      struct stat st;
      if (lstat((root + "/" + child).c_str(), &st) != 0) continue;
      out.all.push_back(child);
      if (S_ISREG(st.st_mode)) out.files.push_back(child);
      if (S_ISLNK(st.st_mode)) out.symlinks.push_back(child);
      if (S_ISDIR(st.st_mode)) {
        out.dirs.push_back(child);
        collect_paths(root, child, out);
      }
    }
  }

  enum class Prefer { kAny, kFile, kDir, kSymlink, kNew };

  // Mostly an existing entry (preferably of the kind the operation works
  // on), otherwise a random name from the pool, which may or may not exist.
  std::string pick_path(Prefer prefer = Prefer::kAny) {
    const auto& e = existing_paths();
    const unsigned existing_percent = prefer == Prefer::kNew ? 20 : 60;
    if (e.all.empty() || !rng_.percent(existing_percent)) return random_path();
    const std::vector<std::string>* pool = &e.all;
    if (rng_.percent(75)) {
      if (prefer == Prefer::kFile && !e.files.empty()) pool = &e.files;
      if (prefer == Prefer::kDir && !e.dirs.empty()) pool = &e.dirs;
      if (prefer == Prefer::kSymlink && !e.symlinks.empty()) pool = &e.symlinks;
    }
    return (*pool)[rng_.below(pool->size())];
  }

  // Relative symlink targets built only from pool names: never absolute and
  // never "..", so following a link can not escape the tree under test.
  std::string random_symlink_target() {
    unsigned r = static_cast<unsigned>(rng_.below(100));
    if (r < 70) {
      std::string t = rng_.pick(kNames);
      int depth = static_cast<int>(rng_.below(3));
      for (int i = 0; i < depth; ++i) t += std::string("/") + rng_.pick(kNames);
      return t;
    }
    if (r < 95) return "missing_target_" + std::to_string(rng_.below(100));
    return std::string(1 + rng_.below(1000), 'L');  // long, dangling
  }

  // --------------------------------------------------------- sizes/offsets
  // Mostly small offsets, occasionally up to 1 MiB, rarely beyond 4 GiB.
  uint64_t random_offset() {
    uint64_t r = rng_.below(1000);
    uint64_t off;
    if (r < 2) {
      off = 4 * kGiB + rng_.below(64 * kMiB);
      big_offsets_.insert(off);
    } else if (r < 60) {
      off = rng_.below(1 * kMiB);
    } else if (r < 300) {
      off = rng_.below(128 * kKiB);
    } else {
      off = rng_.below(16 * kKiB);
    }
    return off;
  }

  uint64_t random_length() {
    uint64_t r = rng_.below(100);
    if (r < 4) return 0;
    if (r < 72) return 1 + rng_.below(4 * kKiB);
    if (r < 97) return 1 + rng_.below(32 * kKiB);
    return 1 + rng_.below(128 * kKiB);
  }

  uint64_t random_truncate_size() {
    uint64_t r = rng_.below(1000);
    if (r < 150) return 0;
    if (r < 153) {
      uint64_t s = 4 * kGiB + rng_.below(64 * kMiB);
      big_offsets_.insert(s);
      return s;
    }
    if (r < 600) return rng_.below(64 * kKiB);
    return rng_.below(1 * kMiB);
  }

  // ------------------------------------------------------------ operations
  Op generate() {
    struct Choice {
      unsigned weight;
      Op (Model::*make)();
    };
    static const std::vector<Choice> choices = {
        {14, &Model::op_write_file},  {10, &Model::op_read_file},  {5, &Model::op_truncate},
        {8, &Model::op_rename},       {3, &Model::op_link},        {3, &Model::op_unlink},
        {5, &Model::op_mkdir},        {3, &Model::op_rmdir},       {3, &Model::op_symlink},
        {2, &Model::op_readlink},     {7, &Model::op_stat},        {3, &Model::op_listdir},
        {3, &Model::op_chmod},        {3, &Model::op_setxattr},    {3, &Model::op_getxattr},
        {2, &Model::op_listxattr},    {2, &Model::op_removexattr}, {1, &Model::op_fsync_path},
        {4, &Model::op_open_fd},      {5, &Model::op_fd_write},    {4, &Model::op_fd_read},
        {2, &Model::op_fd_ftruncate}, {1, &Model::op_fd_fsync},    {2, &Model::op_fd_fstat},
        {3, &Model::op_fd_close},     {2, &Model::op_fallocate},   {3, &Model::op_copy_range},
        {2, &Model::op_rename2},      {2, &Model::op_mmap_write},
    };
    static const unsigned total = [] {
      unsigned t = 0;
      for (const auto& c : choices) t += c.weight;
      return t;
    }();
    for (;;) {
      uint64_t r = rng_.below(total);
      for (const auto& c : choices) {
        if (r < c.weight) {
          Op op = (this->*c.make)();
          if (op.run) return op;  // empty when not applicable right now
          break;
        }
        r -= c.weight;
      }
    }
  }

  Op op_fallocate() { return posix_.fallocate(); }
  Op op_setxattr() { return xattrs_ ? fdx_.setxattr() : Op{}; }
  Op op_getxattr() { return xattrs_ ? fdx_.getxattr() : Op{}; }
  Op op_listxattr() { return xattrs_ ? fdx_.listxattr() : Op{}; }
  Op op_removexattr() { return xattrs_ ? fdx_.removexattr() : Op{}; }
  Op op_open_fd() { return fdx_.open_fd(); }
  Op op_fd_write() { return fdx_.fd_write(); }
  Op op_fd_read() { return fdx_.fd_read(); }
  Op op_fd_ftruncate() { return fdx_.fd_ftruncate(); }
  Op op_fd_fsync() { return fdx_.fd_fsync(); }
  Op op_fd_fstat() { return fdx_.fd_fstat(); }
  Op op_fd_close() { return fdx_.fd_close(); }
  Op op_copy_range() { return posix_.copy_range(); }
  Op op_rename2() { return posix_.rename2(); }
  Op op_mmap_write() { return posix_.mmap_write(); }

  Op op_write_file() {
    std::string path = pick_path(rng_.percent(25) ? Prefer::kNew : Prefer::kFile);
    int flags = rng_.percent(50) ? O_WRONLY : O_RDWR;
    if (rng_.percent(85)) flags |= O_CREAT;
    if ((flags & O_CREAT) && rng_.percent(12)) flags |= O_EXCL;
    if (rng_.percent(15)) flags |= O_TRUNC;
    if (rng_.percent(15)) flags |= O_APPEND;
    mode_t mode = rng_.percent(80) ? 0644 : 0600;
    bool positional = !(flags & O_APPEND) && rng_.percent(85);
    uint64_t off = random_offset();
    auto data = std::make_shared<std::string>(rng_.bytes(random_length()));
    std::ostringstream d;
    d << "write_file(" << path << ", flags=0" << std::oct << flags << std::dec
      << (positional ? ", pwrite off=" + std::to_string(off) : ", write")
      << ", len=" << data->size() << ")";
    return {d.str(), true, [=](Side& s) {
              int fd = open(s.abs(path).c_str(), flags | O_CLOEXEC, mode);
              if (fd < 0) return failed_at("open");
              ssize_t n = positional
                              ? pwrite(fd, data->data(), data->size(), static_cast<off_t>(off))
                              : write(fd, data->data(), data->size());
              if (n < 0) {
                Outcome o = failed_at("write");
                close(fd);
                return o;
              }
              struct stat st;
              if (fstat(fd, &st) != 0) {
                Outcome o = failed_at("fstat");
                close(fd);
                return o;
              }
              Outcome o = result_of(close(fd));
              o.data = "written=" + std::to_string(n) + " size=" + std::to_string(st.st_size);
              return o;
            }};
  }

  Op op_read_file() {
    std::string path = pick_path(Prefer::kFile);
    uint64_t off = random_offset();
    uint64_t len = random_length() * (rng_.percent(20) ? 4 : 1);
    return {
        "read_file(" + path + ", off=" + std::to_string(off) + ", len=" + std::to_string(len) + ")",
        false, [=](Side& s) {
          int fd = open(s.abs(path).c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) return failed_at("open");
          std::string buf(len, '\0');
          ssize_t n = pread(fd, buf.data(), len, static_cast<off_t>(off));
          if (n < 0) {
            Outcome o = failed_at("pread");
            close(fd);
            return o;
          }
          buf.resize(static_cast<size_t>(n));
          Outcome o = result_of(close(fd));
          o.ret = n;
          o.data = std::move(buf);
          return o;
        }};
  }

  Op op_truncate() {
    std::string path = pick_path(Prefer::kFile);
    uint64_t size = random_truncate_size();
    return {"truncate(" + path + ", " + std::to_string(size) + ")", false, [=](Side& s) {
              return result_of(truncate(s.abs(path).c_str(), static_cast<off_t>(size)));
            }};
  }

  Op op_rename() {
    std::string from = pick_path();
    std::string to;
    unsigned r = static_cast<unsigned>(rng_.below(100));
    if (r < 12) {
      to = from + "/" + rng_.pick(kNames);  // into own subtree: EINVAL
    } else if (r < 18 && from.find('/') != std::string::npos) {
      to = from.substr(0, from.rfind('/'));  // onto own parent
    } else {
      to = pick_path();
    }
    return {"rename(" + from + ", " + to + ")", true,
            [=](Side& s) { return result_of(rename(s.abs(from).c_str(), s.abs(to).c_str())); }};
  }

  Op op_link() {
    std::string from = pick_path(Prefer::kFile);
    std::string to = pick_path(Prefer::kNew);
    return {"link(" + from + ", " + to + ")", true,
            [=](Side& s) { return result_of(link(s.abs(from).c_str(), s.abs(to).c_str())); }};
  }

  Op op_unlink() {
    std::string path = pick_path(Prefer::kFile);
    return {"unlink(" + path + ")", true,
            [=](Side& s) { return result_of(unlink(s.abs(path).c_str())); }};
  }

  Op op_mkdir() {
    std::string path = pick_path(Prefer::kNew);
    static const std::array<mode_t, 4> modes = {0755, 0700, 0777, 0750};
    mode_t mode = rng_.pick(modes);
    std::ostringstream d;
    d << "mkdir(" << path << ", 0" << std::oct << mode << ")";
    return {d.str(), true, [=](Side& s) { return result_of(mkdir(s.abs(path).c_str(), mode)); }};
  }

  Op op_rmdir() {
    std::string path = pick_path(Prefer::kDir);
    return {"rmdir(" + path + ")", true,
            [=](Side& s) { return result_of(rmdir(s.abs(path).c_str())); }};
  }

  Op op_symlink() {
    std::string target = random_symlink_target();
    std::string path = pick_path(Prefer::kNew);
    return {"symlink(" + printable(target, 40) + ", " + path + ")", true,
            [=](Side& s) { return result_of(symlink(target.c_str(), s.abs(path).c_str())); }};
  }

  Op op_readlink() {
    std::string path = pick_path(Prefer::kSymlink);
    static const std::array<size_t, 4> sizes = {1, 3, 16, 4096};
    size_t size = rng_.pick(sizes);
    return {"readlink(" + path + ", bufsize=" + std::to_string(size) + ")", false, [=](Side& s) {
              std::string buf(size, '\0');
              ssize_t n = readlink(s.abs(path).c_str(), buf.data(), size);
              Outcome o = result_of(n);
              if (n >= 0) o.data = buf.substr(0, static_cast<size_t>(n));
              return o;
            }};
  }

  Op op_stat() {
    std::string path = pick_path();
    bool follow = rng_.percent(50);
    return {std::string(follow ? "stat(" : "lstat(") + path + ")", false, [=](Side& s) {
              struct stat st;
              int rc = follow ? stat(s.abs(path).c_str(), &st) : lstat(s.abs(path).c_str(), &st);
              Outcome o = result_of(rc);
              if (rc == 0) o.data = stat_summary(st);
              return o;
            }};
  }

  Op op_listdir() {
    std::string path = rng_.percent(10) ? std::string(".") : pick_path(Prefer::kDir);
    return {"listdir(" + path + ")", false, [=](Side& s) {
              DIR* d = opendir(s.abs(path).c_str());
              if (d == nullptr) return failed_at("opendir");
              std::vector<std::string> names;
              errno = 0;
              while (dirent* de = readdir(d)) names.push_back(de->d_name);
              Outcome o = result_of(errno ? -1 : 0);
              closedir(d);
              std::sort(names.begin(), names.end());
              for (const auto& n : names) o.data += n + "/";
              return o;
            }};
  }

  Op op_chmod() {
    std::string path = pick_path();
    mode_t mode = static_cast<mode_t>(rng_.below(01000));
    if (rng_.percent(10)) mode |= S_ISVTX;
    std::ostringstream d;
    d << "chmod(" << path << ", 0" << std::oct << mode << ")";
    return {d.str(), false, [=](Side& s) { return result_of(chmod(s.abs(path).c_str(), mode)); }};
  }

  Op op_fsync_path() {
    std::string path = pick_path(Prefer::kFile);
    bool data_only = rng_.percent(30);
    return {std::string(data_only ? "fdatasync_path(" : "fsync_path(") + path + ")", false,
            [=](Side& s) {
              int fd = open(s.abs(path).c_str(), O_RDONLY | O_CLOEXEC);
              if (fd < 0) return failed_at("open");
              if ((data_only ? fdatasync(fd) : fsync(fd)) != 0) {
                Outcome o = failed_at("fsync");
                close(fd);
                return o;
              }
              return result_of(close(fd));
            }};
  }

  std::string recent_history() const {
    std::string s;
    for (const auto& h : history_) s += "    " + h + "\n";
    return s;
  }

  Rng rng_;
  bool xattrs_;
  Side mnt_;
  Side ref_;
  ExistingPaths existing_;
  bool paths_dirty_ = true;
  PosixOps posix_;
  FdXattrOps fdx_;
  std::set<uint64_t> big_offsets_;
  std::deque<std::string> history_;
  std::map<std::string, std::map<std::string, uint64_t>> stats_;
};

// user.* xattrs are not supported everywhere (e.g. some overlayfs/tmpfs
// setups); without reference support xattr operations are skipped.
bool reference_supports_user_xattrs(const std::string& dir) {
  const std::string probe = dir + "/.xattr_probe";
  int fd = open(probe.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  close(fd);
  bool ok = setxattr(probe.c_str(), "user.probe", "1", 1, 0) == 0;
  unlink(probe.c_str());
  return ok;
}

TEST(ModelTest, RandomOperationsMatchHostFilesystem) {
  std::string why;
  if (!integration_environment_ok(&why)) GTEST_SKIP() << why;

  const uint64_t seed =
      env_u64("MODEL_SEED",
              static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()));
  const uint64_t ops = env_u64("MODEL_OPS", 100000);
  std::cout << "[model] MODEL_SEED=" << seed << " MODEL_OPS=" << ops << std::endl;
  SCOPED_TRACE("reproduce with MODEL_SEED=" + std::to_string(seed) +
               " MODEL_OPS=" + std::to_string(ops));

  umask(022);  // creation modes must not depend on the caller's umask
  TestVolume vol;
  const std::string ref = vol.dir() + "/ref";
  ASSERT_EQ(mkdir(ref.c_str(), 0755), 0) << errno_name(errno);
  const bool xattrs = reference_supports_user_xattrs(ref);
  if (!xattrs) {
    std::cout << "[model] reference filesystem lacks user.* xattrs; "
                 "skipping xattr operations"
              << std::endl;
  }
  std::cout << "[model] dynamicfs at " << vol.mountpoint() << ", reference at " << ref << std::endl;

  const bool zero_range = PosixOps::supports_zero_range(ref);
  if (!zero_range) std::cout << "[model] reference lacks FALLOC_FL_ZERO_RANGE" << std::endl;
  Model model(vol.mountpoint(), ref, seed, xattrs, zero_range);
  const auto start = std::chrono::steady_clock::now();
  const uint64_t quarter = std::max<uint64_t>(ops / 4, 1);
  // step() and compare_trees() report their own failures in detail.
  for (uint64_t i = 0; i < ops; ++i) {
    if (!model.step(i)) return;
    if ((i + 1) % quarter == 0 && i + 1 < ops) {
      std::string when = "after " + std::to_string(i + 1) + " operations";
      if ((i + 1) / quarter == 2) {
        model.close_fds();
        ASSERT_NO_THROW(vol.remount());
        when += " and a remount";
      }
      if (!model.compare_trees(when)) return;
      auto secs =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
              .count();
      std::cout << "[model] " << (i + 1) << " operations in " << secs << "s" << std::endl;
    }
  }
  model.print_stats();
  model.close_fds();
  if (!model.compare_trees("at the end")) return;
  ASSERT_NO_THROW(vol.remount());
  model.compare_trees("at the end after a remount");
}

}  // namespace

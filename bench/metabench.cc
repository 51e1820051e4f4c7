// metabench: the metadata workload of bench/run.sh. It exists because fio
// cannot time the namespace operations the project's goals are stated in
// (create, warm stat, readdir, rename, unlink of many empty files), and the
// same program must run unchanged on every target (native directory,
// passthrough_ll, mergerfs, dynamicfs) so that ratios compare like with like.
//
//   metabench --dir D --files N --threads T [--phases LIST] [--drop-caches]
//
// Layout: each thread works in its own subdirectory D/t<i> on N/T files
// (f<i>, renamed to r<i>), so threads never contend on one directory's lock
// in the kernel; the subdirectories are created before timing starts.
// Phases run in the order given, separated by a barrier; a phase's time is
// the wall time from the barrier to the last thread finishing it.
//   create      open(O_CREAT|O_EXCL|O_WRONLY) + close of every file
//   stat        stat() of every file right after create ("warm": the kernel
//               has the attributes and dentries cached)
//   stat_cold   stat() after dropping the page/dentry/inode caches
//               (only with --drop-caches, which needs root)
//   readdir     one full opendir/readdir pass per thread; ops = entries read
//   rename      rename f<i> -> r<i> within the thread's directory
//   unlink      unlink of every (renamed) file; subdirectories are removed
//               after the last phase unless --keep
// Output: one JSON object on stdout with ops, seconds and ops_per_sec per
// phase. Exit status 1 (with the failing call on stderr) on any error.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string dir;
  long files = 10000;
  int threads = 1;
  std::vector<std::string> phases = {"create", "stat", "readdir", "rename", "unlink"};
  bool drop_caches = false;
  bool keep = false;
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "metabench: %s\nusage: metabench --dir DIR --files N --threads T "
               "[--phases create,stat,stat_cold,readdir,rename,unlink] "
               "[--drop-caches] [--keep]\n",
               msg);
  std::exit(2);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--dir") {
      o.dir = value();
    } else if (a == "--files") {
      o.files = std::atol(value().c_str());
    } else if (a == "--threads") {
      o.threads = std::atoi(value().c_str());
    } else if (a == "--phases") {
      o.phases = Split(value());
    } else if (a == "--drop-caches") {
      o.drop_caches = true;
    } else if (a == "--keep") {
      o.keep = true;
    } else {
      Usage(("unknown argument " + a).c_str());
    }
  }
  if (o.dir.empty()) Usage("--dir is required");
  if (o.files < 1 || o.threads < 1 || o.threads > 1024) Usage("bad --files or --threads");
  for (const auto& p : o.phases) {
    if (p != "create" && p != "stat" && p != "stat_cold" && p != "readdir" && p != "rename" &&
        p != "unlink")
      Usage(("unknown phase " + p).c_str());
    if (p == "stat_cold" && !o.drop_caches) Usage("stat_cold needs --drop-caches");
  }
  return o;
}

std::atomic<bool> g_failed{false};

void Fail(const std::string& what) {
  bool expected = false;
  if (g_failed.compare_exchange_strong(expected, true))
    std::fprintf(stderr, "metabench: %s: %s\n", what.c_str(), std::strerror(errno));
}

void DropCaches() {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0 || write(fd, "3\n", 2) != 2) Fail("drop caches (needs root)");
  if (fd >= 0) close(fd);
}

// Runs one phase for one thread over files [0, count) in directory `sub`.
long RunPhase(const std::string& phase, const std::string& sub, long count) {
  char path[4096], path2[4096];
  long ops = 0;
  if (phase == "create") {
    for (long i = 0; i < count && !g_failed; ++i, ++ops) {
      std::snprintf(path, sizeof path, "%s/f%ld", sub.c_str(), i);
      int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0 || close(fd) != 0) Fail(std::string("create ") + path);
    }
  } else if (phase == "stat" || phase == "stat_cold") {
    struct stat st;
    for (long i = 0; i < count && !g_failed; ++i, ++ops) {
      std::snprintf(path, sizeof path, "%s/f%ld", sub.c_str(), i);
      if (stat(path, &st) != 0) Fail(std::string("stat ") + path);
    }
  } else if (phase == "readdir") {
    DIR* d = opendir(sub.c_str());
    if (d == nullptr) {
      Fail("opendir " + sub);
      return 0;
    }
    errno = 0;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++ops;
    }
    if (errno != 0) Fail("readdir " + sub);
    closedir(d);
    if (ops != count) {
      errno = 0;
      Fail("readdir " + sub + " returned " + std::to_string(ops) + " entries, expected " +
           std::to_string(count));
    }
  } else if (phase == "rename") {
    for (long i = 0; i < count && !g_failed; ++i, ++ops) {
      std::snprintf(path, sizeof path, "%s/f%ld", sub.c_str(), i);
      std::snprintf(path2, sizeof path2, "%s/r%ld", sub.c_str(), i);
      if (rename(path, path2) != 0) Fail(std::string("rename ") + path);
    }
  } else if (phase == "unlink") {
    for (long i = 0; i < count && !g_failed; ++i, ++ops) {
      // Unlink whichever name the file has (rename may not have run).
      std::snprintf(path, sizeof path, "%s/r%ld", sub.c_str(), i);
      if (unlink(path) != 0) {
        std::snprintf(path2, sizeof path2, "%s/f%ld", sub.c_str(), i);
        if (errno != ENOENT || unlink(path2) != 0) Fail(std::string("unlink ") + path);
      }
    }
  }
  return ops;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  const int t_count = o.threads;
  std::vector<std::string> subs;
  for (int t = 0; t < t_count; ++t) {
    subs.push_back(o.dir + "/t" + std::to_string(t));
    if (mkdir(subs.back().c_str(), 0755) != 0) {
      Fail("mkdir " + subs.back());
      return 1;
    }
  }
  auto per_thread = [&](int t) { return o.files / t_count + (t < o.files % t_count ? 1 : 0); };

  const size_t n_phases = o.phases.size();
  std::vector<std::vector<long>> ops(n_phases, std::vector<long>(t_count, 0));
  std::vector<double> seconds(n_phases, 0);
  std::chrono::steady_clock::time_point phase_start;
  size_t current = 0;
  // The completion step runs once per barrier, in one thread, between phases:
  // it closes the timing of the phase that just ended and opens the next.
  bool started = false;
  auto on_barrier = [&]() noexcept {
    auto now = std::chrono::steady_clock::now();
    if (started) {
      seconds[current] = std::chrono::duration<double>(now - phase_start).count();
      ++current;
    }
    started = true;
    if (current < n_phases && o.phases[current] == "stat_cold" && !g_failed) DropCaches();
    phase_start = std::chrono::steady_clock::now();
  };
  std::barrier sync_point(t_count, on_barrier);

  std::vector<std::thread> workers;
  for (int t = 0; t < t_count; ++t) {
    workers.emplace_back([&, t]() {
      sync_point.arrive_and_wait();  // start of the first phase
      for (size_t p = 0; p < n_phases; ++p) {
        ops[p][t] = RunPhase(o.phases[p], subs[t], per_thread(t));
        sync_point.arrive_and_wait();
      }
    });
  }
  for (auto& w : workers) w.join();

  if (!o.keep) {
    for (const auto& s : subs) {
      if (rmdir(s.c_str()) != 0 && errno != ENOTEMPTY) Fail("rmdir " + s);
    }
  }
  if (g_failed) return 1;

  std::printf(
      "{\"files\": %ld, \"threads\": %d, \"layout\": \"one subdirectory per thread\", "
      "\"phases\": {",
      o.files, t_count);
  for (size_t p = 0; p < n_phases; ++p) {
    long total = 0;
    for (long v : ops[p]) total += v;
    double secs = seconds[p] > 0 ? seconds[p] : 1e-9;
    std::printf("%s\"%s\": {\"ops\": %ld, \"seconds\": %.6f, \"ops_per_sec\": %.1f}", p ? ", " : "",
                o.phases[p].c_str(), total, seconds[p], total / secs);
  }
  std::printf("}}\n");
  return 0;
}

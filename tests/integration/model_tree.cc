// TreeComparison: walks both trees, then compares entry by entry.
#include "model_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace dynamicfs::model {

std::vector<std::string> TreeComparison::differences(size_t* entries) {
  std::map<std::string, TreeEntry> m, r;
  std::vector<std::string> diffs;
  walk(m_mnt.root, "", m, diffs);
  walk(m_ref.root, "", r, diffs);
  for (const auto& [path, e] : m) {
    if (!r.count(path)) diffs.push_back("only on dynamicfs: " + path);
  }
  for (const auto& [path, e] : r) {
    if (!m.count(path)) diffs.push_back("only on reference: " + path);
  }
  for (const auto& [path, re] : r) {
    auto it = m.find(path);
    if (it == m.end()) continue;
    compare_entry(path, it->second, re, diffs);
    if (diffs.size() > kMaxReportedDiffs) break;
  }
  compare_link_structure(m, r, diffs);
  *entries = r.size();
  return diffs;
}

void TreeComparison::walk(const std::string& root, const std::string& rel,
                          std::map<std::string, TreeEntry>& out, std::vector<std::string>& diffs) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  std::vector<std::string> names;
  if (!list_names(dir, &names)) {
    diffs.push_back("opendir(" + dir + "): " + errno_name(errno));
    return;
  }
  for (const auto& n : names) {
    const std::string child = rel.empty() ? n : rel + "/" + n;
    const std::string full = root + "/" + child;
    TreeEntry e;
    if (lstat(full.c_str(), &e.st) != 0) {
      diffs.push_back("lstat(" + full + "): " + errno_name(errno));
      continue;
    }
    if (S_ISLNK(e.st.st_mode)) {
      std::string buf(4096, '\0');
      ssize_t len = readlink(full.c_str(), buf.data(), buf.size());
      if (len < 0) {
        diffs.push_back("readlink(" + full + "): " + errno_name(errno));
      } else {
        e.target = buf.substr(0, static_cast<size_t>(len));
      }
    }
    if (m_xattrs && (S_ISREG(e.st.st_mode) || S_ISDIR(e.st.st_mode))) {
      read_xattrs(full, e.xattrs, diffs);
    }
    bool is_dir = S_ISDIR(e.st.st_mode);
    out.emplace(child, std::move(e));
    if (is_dir) walk(root, child, out, diffs);
  }
}

void TreeComparison::read_xattrs(const std::string& path, std::map<std::string, std::string>& out,
                                 std::vector<std::string>& diffs) {
  std::string names(64 * kKiB, '\0');
  ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) {
    diffs.push_back("llistxattr(" + path + "): " + errno_name(errno));
    return;
  }
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    std::string value(64 * kKiB, '\0');
    ssize_t v = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (v < 0) {
      diffs.push_back("lgetxattr(" + path + ", " + name + "): " + errno_name(errno));
      continue;
    }
    value.resize(static_cast<size_t>(v));
    out[name] = value;
  }
}

void TreeComparison::compare_entry(const std::string& path, const TreeEntry& m, const TreeEntry& r,
                                   std::vector<std::string>& diffs) {
  const std::string ms = stat_summary(m.st);
  const std::string rs = stat_summary(r.st);
  if (ms != rs) {
    diffs.push_back(path + ": dynamicfs {" + ms + "} vs reference {" + rs + "}");
    return;
  }
  if (m.target != r.target) {
    diffs.push_back(path + ": symlink target " + printable(m.target) + " vs " +
                    printable(r.target));
  }
  if (m.xattrs != r.xattrs) {
    std::string mx, rx;
    for (const auto& [k, v] : m.xattrs) mx += k + "=" + printable(v, 8) + " ";
    for (const auto& [k, v] : r.xattrs) rx += k + "=" + printable(v, 8) + " ";
    diffs.push_back(path + ": xattrs {" + mx + "} vs {" + rx + "}");
  }
  if (S_ISREG(r.st.st_mode)) {
    std::string d = compare_content(path, static_cast<uint64_t>(r.st.st_size));
    if (!d.empty()) diffs.push_back(path + ": " + d);
  }
}

std::string TreeComparison::compare_content(const std::string& rel, uint64_t size) {
  int mfd = open(m_mnt.abs(rel).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (mfd < 0) return "open on dynamicfs: " + errno_name(errno);
  int rfd = open(m_ref.abs(rel).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (rfd < 0) {
    close(mfd);
    return "open on reference: " + errno_name(errno);
  }
  // Byte-for-byte up to kFullCompareLimit; huge sparse files are compared
  // at their head, tail and around every large offset the test used.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  if (size <= kFullCompareLimit) {
    ranges.push_back({0, size});
  } else {
    ranges.push_back({0, 1 * kMiB});
    ranges.push_back({size - 1 * kMiB, size});
    for (uint64_t o : m_big_offsets) {
      uint64_t lo = o > 64 * kKiB ? o - 64 * kKiB : 0;
      if (lo < size) ranges.push_back({lo, std::min(size, o + 256 * kKiB)});
    }
  }
  std::string result;
  std::string mb(1 * kMiB, '\0');
  std::string rb(1 * kMiB, '\0');
  for (auto [lo, hi] : ranges) {
    for (uint64_t pos = lo; pos < hi && result.empty();) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(hi - pos, kMiB));
      ssize_t mn = pread(mfd, mb.data(), want, static_cast<off_t>(pos));
      ssize_t rn = pread(rfd, rb.data(), want, static_cast<off_t>(pos));
      if (mn != rn) {
        result = "read at " + std::to_string(pos) + " returned " + std::to_string(mn) + " vs " +
                 std::to_string(rn);
      } else if (mn <= 0) {
        if (mn < 0) result = "read error at " + std::to_string(pos);
        break;
      } else if (std::memcmp(mb.data(), rb.data(), static_cast<size_t>(mn)) != 0) {
        size_t i = 0;
        while (mb[i] == rb[i]) ++i;
        result = "content differs at offset " + std::to_string(pos + i);
      }
      pos += static_cast<uint64_t>(std::max<ssize_t>(mn, 0));
    }
    if (!result.empty()) break;
  }
  close(mfd);
  close(rfd);
  return result;
}

void TreeComparison::compare_link_structure(const std::map<std::string, TreeEntry>& m,
                                            const std::map<std::string, TreeEntry>& r,
                                            std::vector<std::string>& diffs) {
  auto canonical = [](const std::map<std::string, TreeEntry>& tree) {
    std::map<ino_t, std::string> first;  // maps are ordered: first = least
    std::map<std::string, std::string> out;
    for (const auto& [path, e] : tree) {
      if (S_ISDIR(e.st.st_mode)) continue;
      auto [it, inserted] = first.emplace(e.st.st_ino, path);
      out[path] = it->second;
    }
    return out;
  };
  auto mc = canonical(m);
  auto rc = canonical(r);
  for (const auto& [path, leader] : rc) {
    auto it = mc.find(path);
    if (it != mc.end() && it->second != leader) {
      diffs.push_back(path + ": hard-linked with " + it->second + " on dynamicfs but with " +
                      leader + " on reference");
    }
  }
}

}  // namespace dynamicfs::model

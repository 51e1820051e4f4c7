// TreeComparison: the model test's check that two trees are the same: every
// entry's type, mode, owner, size and nlink, symlink targets, xattrs, file
// contents (byte for byte up to kFullCompareLimit, in windows beyond) and
// which paths are hard links of one another.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "model_support.h"

namespace dynamicfs::model {

struct TreeEntry {
  struct stat st {};
  std::string target;                         // symlinks
  std::map<std::string, std::string> xattrs;  // regular files and dirs
};

class TreeComparison {
 public:
  // BIG_OFFSETS: large offsets the test wrote at, compared in huge files.
  TreeComparison(const Side& mnt, const Side& ref, bool xattrs,
                 const std::set<uint64_t>& big_offsets)
      : m_mnt(mnt), m_ref(ref), m_xattrs(xattrs), m_big_offsets(big_offsets) {}
  // Every difference found (one line each; stops adding entry differences
  // past kMaxReportedDiffs); ENTRIES gets the reference tree's entry count.
  std::vector<std::string> differences(size_t* entries);

 private:
  void walk(const std::string& root, const std::string& rel, std::map<std::string, TreeEntry>& out,
            std::vector<std::string>& diffs);
  static void read_xattrs(const std::string& path, std::map<std::string, std::string>& out,
                          std::vector<std::string>& diffs);
  void compare_entry(const std::string& path, const TreeEntry& m, const TreeEntry& r,
                     std::vector<std::string>& diffs);
  // "" when equal, else a description of the first difference.
  std::string compare_content(const std::string& rel, uint64_t size);
  // Hard links must group the same paths on both sides.
  static void compare_link_structure(const std::map<std::string, TreeEntry>& m,
                                     const std::map<std::string, TreeEntry>& r,
                                     std::vector<std::string>& diffs);

  const Side& m_mnt;
  const Side& m_ref;
  const bool m_xattrs;
  const std::set<uint64_t>& m_big_offsets;
};

}  // namespace dynamicfs::model

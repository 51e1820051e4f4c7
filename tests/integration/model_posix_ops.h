// Operations of the model test for the POSIX surface beyond the basics:
// fallocate (reserve, punch, zero range), copy_file_range, renameat2
// (RENAME_NOREPLACE / RENAME_EXCHANGE) and writes through a shared mmap.
// Each returns an Op that runs the same syscalls on both trees; what it
// needs from the model (paths, offsets) comes through ModelPicks.
#pragma once

#include <functional>
#include <string>

#include "model_support.h"

namespace dynamicfs::model {

struct ModelPicks {
  std::function<std::string()> file;      // mostly an existing regular file
  std::function<std::string()> any_path;  // anything from the name pool
  std::function<uint64_t()> offset;
  std::function<uint64_t()> length;
  std::function<uint64_t()> truncate_size;  // mostly small, sometimes huge
};

class PosixOps {
 public:
  // zero_range: whether the reference filesystem supports FALLOC_FL_ZERO_RANGE.
  PosixOps(Rng& rng, ModelPicks picks, bool zero_range)
      : m_rng(rng), m_picks(std::move(picks)), m_zero_range(zero_range) {}

  Op fallocate();
  Op copy_range();
  Op rename2();
  Op mmap_write();

  // Probes the reference directory for FALLOC_FL_ZERO_RANGE.
  static bool supports_zero_range(const std::string& dir);

 private:
  Rng& m_rng;
  ModelPicks m_picks;
  bool m_zero_range;
};

}  // namespace dynamicfs::model

// Scrubber: reads every copy of every extent of the volume at Background I/O
// priority and verifies its per-4 KiB checksums, so silent corruption is
// found before a user reads it; a bad block with a good copy elsewhere is
// rewritten from it on the spot (FileSystem::scrub_extent).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "metadata/meta_store.h"
#include "src/common/result.h"
#include "src/fs/file_system.h"

namespace dynamicfs {

struct ScrubReport {
  uint64_t extents = 0;
  uint64_t bytes = 0;
  uint64_t checksum_errors = 0;  // bad blocks found, over all copies
  uint64_t read_errors = 0;      // copies that could not be read
  uint64_t repaired = 0;         // bad blocks rewritten from a good copy
  uint64_t unrepaired = 0;       // blocks with no good copy left
  bool damaged() const { return unrepaired > 0 || read_errors > 0; }
  std::vector<std::string> problems;  // first few, with inode, offset and disk
};

class Scrubber {
 public:
  explicit Scrubber(FileSystem& fs) : m_fs(fs) {}

  // Scans everything once, at the rate last given to set_rate (0, the
  // default, means unthrottled).
  // Safe while the filesystem is in use: it reads an iterator snapshot of
  // the extent map and reports blocks that change underneath it only if they
  // still belong to the file afterwards.
  Result<ScrubReport> run();

  uint64_t bytes_done() const { return m_bytes_done.load(); }
  // Sets the rate of the next run(), or of the running one from its next
  // extent on.
  void set_rate(uint64_t rate_bytes_per_sec) { m_rate = rate_bytes_per_sec; }
  // Makes a running (or the next) run() stop early.
  void cancel() { m_cancel = true; }

 private:
  FileSystem& m_fs;
  std::atomic<uint64_t> m_bytes_done{0};
  std::atomic<bool> m_cancel{false};
  std::atomic<uint64_t> m_rate{0};
};

}  // namespace dynamicfs

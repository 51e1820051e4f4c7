// JournalReplay: after a crash, puts back on the data disks the small writes
// whose data was durable only in the metadata WAL (JournalBlob).
//
// A blob is written back block by block, and only where a live extent
// record expects exactly those bytes: the block's crc32c must equal the
// record's checksum for that place. So replay can only ever restore what
// the durable metadata already says is there; a blob whose space was freed
// and reused since, or that the disks already hold, changes nothing wrong
// (blocks already right are rewritten with the same bytes). Erasure-coded
// stripes are never journaled.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"
#include "src/extent/volume.h"

namespace dynamicfs {

struct JournalReplayStats {
  uint64_t blobs = 0;
  uint64_t blocks_written = 0;  // blocks some live extent expected there
  uint64_t blocks_stale = 0;    // blocks no live extent expects (freed, reused)
};

class JournalReplay {
 public:
  // Writes back `blobs` (oldest first) on the volume's disks and syncs the
  // disks written. Run at open, before anything reads or writes data.
  static Result<JournalReplayStats> run(const std::vector<std::string>& blobs, Volume& volume);
};

}  // namespace dynamicfs

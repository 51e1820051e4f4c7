// PieceReuse: which pieces of a newer volume snapshot image a lab-sync
// follower already holds, so that neither the refill of its spare slot nor
// the check before a fetch costs the whole volume. A piece of the new
// torrent is held by a slot whose intact content is an older torrent's when
// that torrent has a piece with the same SHA-1 over the same image ranges
// (same disk offsets, same pad layout): the bytes there are then the same.
// Pieces the spare slot holds stay; pieces only the current slot holds are
// copied across (a few percent of the volume after a small change). A piece
// whose ranges changed (an extent next to it was freed or added) has no
// twin; its bytes are hashed where they lie, in the spare slot and then in
// the current one, and copied when they match there. The rest is fetched.
// The plan's `have` is given to libtorrent as resume data, so nothing else
// is hashed before the fetch.
#pragma once

#include <libtorrent/torrent_info.hpp>
#include <map>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct ReusePlan {
  struct Range {
    uint64_t offset = 0;  // in the image's byte space (ImageTarget regions)
    uint64_t length = 0;
  };
  std::vector<bool> have;     // per piece of the new torrent, after the copies
  std::vector<Range> copies;  // from the current slot to the spare, merged, sorted
  int pieces_in_spare = 0, pieces_copied = 0, pieces_missing = 0;
  int pieces_hashed = 0;  // by verify_rest
  uint64_t copy_bytes = 0;
};

class PieceReuse {
 public:
  // SPARE and CURRENT may be null (no intact content known).
  static Result<ReusePlan> plan(const lt::torrent_info& next, const lt::torrent_info* spare,
                                const lt::torrent_info* current);
  // For each piece PLAN does not have yet: hashes its bytes in the spare
  // slot (SPARE regions), then in the current one (CURRENT, may be empty),
  // and takes it from where they match.
  static Status verify_rest(const lt::torrent_info& next,
                            const std::map<uint32_t, std::string>& spare,
                            const std::map<uint32_t, std::string>& current, ReusePlan* plan);
  // Copies PLAN's ranges between two region maps (see ImageTarget) and
  // syncs the destination.
  static Status copy(const ReusePlan& plan, const std::map<uint32_t, std::string>& from,
                     const std::map<uint32_t, std::string>& to);
};

}  // namespace dynamicfs

// JournalReplay: index the blobs' blocks by disk place, walk the extent map
// once, write back the blocks whose checksum a record expects.
#include "src/extent/journal_replay.h"

#include <map>
#include <utility>

#include "metadata/journal_blob.h"
#include "metadata/meta_store.h"
#include "src/common/crc32c.h"

namespace dynamicfs {

namespace {
constexpr uint64_t kBlock = ExtentRecord::kBlock;
using Place = std::pair<uint32_t, uint64_t>;  // disk, byte offset
}  // namespace

Result<JournalReplayStats> JournalReplay::run(const std::vector<std::string>& blobs,
                                              Volume& volume) {
  JournalReplayStats stats;
  std::vector<JournalBlob> decoded;
  decoded.reserve(blobs.size());
  for (const auto& raw : blobs) {
    DFS_ASSIGN_OR_RETURN(auto b, JournalBlob::decode(raw));
    decoded.push_back(std::move(b));
  }
  stats.blobs = decoded.size();
  // Every block of every blob by the places it was written to; a later blob
  // for the same place comes later in its list.
  std::map<Place, std::vector<const char*>> places;
  uint64_t blocks = 0;
  for (const auto& b : decoded) {
    for (const auto& c : b.copies) {
      for (uint64_t off = 0; off < b.data.size(); off += kBlock, ++blocks)
        places[{c.disk, c.offset + off}].push_back(b.data.data() + off);
    }
  }
  std::vector<bool> written(volume.disk_count(), false);
  auto& meta = volume.meta();
  auto it = meta.iterator(Cf::kExtents);
  for (it->SeekToFirst(); it->Valid() && !places.empty(); it->Next()) {
    DFS_ASSIGN_OR_RETURN(auto rec, ExtentRecord::decode({it->value().data(), it->value().size()}));
    const ExtentRecord& e = rec;
    if (e.is_ec()) continue;
    for (const auto& c : e.copies) {
      if (c.disk >= volume.disk_count() || volume.disk_state(c.disk) == DiskState::kFailed)
        continue;
      auto p = places.lower_bound({c.disk, c.offset});
      while (p != places.end() && p->first.first == c.disk &&
             p->first.second < c.offset + e.length) {
        const uint32_t want = e.crcs[(p->first.second - c.offset) / kBlock];
        // The newest blob whose bytes the record expects.
        for (auto d = p->second.rbegin(); d != p->second.rend(); ++d) {
          if (crc32c(*d, kBlock) != want) continue;
          DFS_RETURN_IF_ERROR(volume.disk(c.disk).write_at(*d, kBlock, p->first.second));
          written[c.disk] = true;
          ++stats.blocks_written;
          break;
        }
        p = places.erase(p);
      }
    }
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "extent scan for journal replay"));
  for (size_t d = 0; d < written.size(); ++d) {
    if (written[d]) DFS_RETURN_IF_ERROR(volume.disk(d).sync());
  }
  stats.blocks_stale = blocks - stats.blocks_written;
  return stats;
}

}  // namespace dynamicfs

// SnapshotDiff: walks both namespaces from the root, then compares the
// extent maps of files present in both.
#include "src/fs/snapshot_diff.h"

#include <algorithm>
#include <deque>
#include <map>

#include "metadata/extent_record.h"
#include "metadata/inode_record.h"
#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/extent/shared_extents.h"
#include "src/extent/space_checkpoint.h"

namespace dynamicfs {

namespace {

// Path -> inode record, every name reachable from the root.
Result<std::map<std::string, InodeRecord>> namespace_of(const MetaStore& meta) {
  std::map<std::string, InodeRecord> out;
  std::deque<std::pair<uint64_t, std::string>> dirs{{kRootIno, ""}};
  while (!dirs.empty()) {
    auto [dir, path] = dirs.front();
    dirs.pop_front();
    const std::string prefix = KeyCodec::dentry_prefix(dir);
    const std::string upper = KeyCodec::prefix_end(prefix);
    rocksdb::Slice lo(prefix), hi(upper);
    auto it = meta.bounded_iterator(Cf::kDentries, &lo, &hi);
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      if (it->value().size() != 12) return Status::error(EUCLEAN, "malformed directory entry");
      const uint64_t ino = get_le<uint64_t>(it->value().data());
      std::string name(KeyCodec::dentry_name({it->key().data(), it->key().size()}));
      DFS_ASSIGN_OR_RETURN(auto v, meta.get(Cf::kInodes, KeyCodec::inode_key(ino)));
      if (!v.has_value()) continue;  // dangling entry: fsck's business
      DFS_ASSIGN_OR_RETURN(auto rec, InodeRecord::decode(ino, *v));
      std::string child = path + "/" + name;
      if (rec.is_dir()) dirs.emplace_back(ino, child);
      out.emplace(std::move(child), rec);
    }
    DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "scanning directory entries"));
  }
  return out;
}

// Where a file's bytes live: [start, end) of the file maps to its first
// copy at disk offset start + shift (unsigned wrap-around arithmetic). For a
// stripe, `stripe` is 1 + its first unit's offset and the shift is into the
// stripe's data.
struct Mapping {
  uint64_t start = 0, end = 0;
  uint32_t disk = 0;
  uint64_t shift = 0;
  uint64_t stripe = 0;
};

Result<std::vector<Mapping>> mappings_of(const MetaStore& meta, uint64_t ino) {
  std::vector<Mapping> out;
  const std::string prefix = KeyCodec::extent_prefix(ino);
  const std::string upper = KeyCodec::prefix_end(prefix);
  rocksdb::Slice lo(prefix), hi(upper);
  auto it = meta.bounded_iterator(Cf::kExtents, &lo, &hi);
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const uint64_t off = KeyCodec::extent_key_offset({it->key().data(), it->key().size()});
    DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode({it->value().data(), it->value().size()}));
    if (e.copies.empty()) continue;
    if (e.is_ec()) {
      out.push_back(Mapping{off, off + e.length, e.copies[0].disk,
                            uint64_t{e.skip} * ExtentRecord::kBlock - off, e.copies[0].offset + 1});
    } else {
      out.push_back(Mapping{off, off + e.length, e.copies[0].disk, e.copies[0].offset - off, 0});
    }
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "scanning extents"));
  return out;
}

// The file ranges where the two maps point at different data (or one has
// a hole), merged. Extents split by later writes still match where their
// bytes are the same ones on disk.
std::vector<std::pair<uint64_t, uint64_t>> changed_ranges(const std::vector<Mapping>& a,
                                                          const std::vector<Mapping>& b) {
  std::vector<uint64_t> cuts;
  for (const auto* v : {&a, &b}) {
    for (const auto& m : *v) {
      cuts.push_back(m.start);
      cuts.push_back(m.end);
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  size_t i = 0, j = 0;
  for (size_t k = 0; k + 1 < cuts.size(); ++k) {
    const uint64_t s = cuts[k], e = cuts[k + 1];
    while (i < a.size() && a[i].end <= s) ++i;
    while (j < b.size() && b[j].end <= s) ++j;
    const Mapping* ma = i < a.size() && a[i].start <= s ? &a[i] : nullptr;
    const Mapping* mb = j < b.size() && b[j].start <= s ? &b[j] : nullptr;
    bool same = (ma == nullptr && mb == nullptr) ||
                (ma != nullptr && mb != nullptr && ma->disk == mb->disk && ma->shift == mb->shift &&
                 ma->stripe == mb->stripe);
    if (same) continue;
    if (!out.empty() && out.back().first + out.back().second == s) {
      out.back().second += e - s;
    } else {
      out.emplace_back(s, e - s);
    }
  }
  return out;
}

// Sorted, merged ranges of `from` minus those of `minus` (both sorted and
// merged, as SharedExtents::count returns them).
std::vector<DiskRange> subtract(const std::vector<DiskRange>& from,
                                const std::vector<DiskRange>& minus) {
  std::vector<DiskRange> out;
  size_t j = 0;
  for (const DiskRange& r : from) {
    uint64_t pos = r.offset;
    const uint64_t end = r.offset + r.length;
    while (j < minus.size() &&
           (minus[j].disk < r.disk ||
            (minus[j].disk == r.disk && minus[j].offset + minus[j].length <= pos)))
      ++j;
    for (size_t k = j; k < minus.size() && minus[k].disk == r.disk && minus[k].offset < end; ++k) {
      if (minus[k].offset > pos) out.push_back(DiskRange{r.disk, pos, minus[k].offset - pos});
      pos = std::max(pos, minus[k].offset + minus[k].length);
    }
    if (pos < end) out.push_back(DiskRange{r.disk, pos, end - pos});
  }
  return out;
}

FileChange change_of(const std::string& path, const InodeRecord& rec) {
  FileChange c;
  c.path = path;
  c.mode = rec.mode;
  c.size = rec.size;
  return c;
}

}  // namespace

uint64_t SnapshotDelta::new_space_bytes() const {
  uint64_t n = 0;
  for (const auto& r : new_space) n += r.length;
  return n;
}

Result<SnapshotDelta> SnapshotDiff::compare(const MetaStore& older, const MetaStore& newer) {
  SnapshotDelta d;
  DFS_ASSIGN_OR_RETURN(auto a, namespace_of(older));
  DFS_ASSIGN_OR_RETURN(auto b, namespace_of(newer));
  for (const auto& [path, rec] : a)
    if (b.count(path) == 0) d.removed.push_back(change_of(path, rec));
  for (const auto& [path, rec] : b) {
    auto it = a.find(path);
    if (it == a.end()) {
      d.added.push_back(change_of(path, rec));
      continue;
    }
    const InodeRecord& old = it->second;
    FileChange c = change_of(path, rec);
    c.attributes = old.ino != rec.ino || old.mode != rec.mode || old.uid != rec.uid ||
                   old.gid != rec.gid || old.size != rec.size || old.mtime != rec.mtime;
    if (rec.is_reg() && old.is_reg()) {
      DFS_ASSIGN_OR_RETURN(auto ma, mappings_of(older, old.ino));
      DFS_ASSIGN_OR_RETURN(auto mb, mappings_of(newer, rec.ino));
      c.ranges = changed_ranges(ma, mb);
      c.data = !c.ranges.empty() || old.size != rec.size;
    }
    if (c.data || c.attributes) d.changed.push_back(std::move(c));
  }
  DFS_ASSIGN_OR_RETURN(auto old_refs, extent_space(older));
  DFS_ASSIGN_OR_RETURN(auto new_refs, extent_space(newer));
  d.new_space = subtract(SharedExtents::count(std::move(new_refs), nullptr),
                         SharedExtents::count(std::move(old_refs), nullptr));
  return d;
}

}  // namespace dynamicfs

// PieceReuse: pieces keyed by (SHA-1, image ranges), matched across torrents.
#include "src/replication/piece_reuse.h"

#include <algorithm>
#include <libtorrent/hasher.hpp>
#include <unordered_set>

#include "src/replication/image_layout.h"
#include "src/replication/image_target.h"

namespace dynamicfs {

namespace {

// The piece's identity: its v1 hash and where its bytes lie.
std::string piece_key(const lt::torrent_info& ti, const ImageLayout& layout, lt::piece_index_t p,
                      std::vector<ImageLayout::Segment>* segments) {
  *segments = layout.map(p, 0, ti.piece_size(p));
  const lt::sha1_hash h = ti.hash_for_piece(p);
  std::string key(h.data(), h.size());
  for (const auto& s : *segments) {
    uint64_t off = s.pad ? ~uint64_t{0} : s.disk_offset;
    key.append(reinterpret_cast<const char*>(&off), sizeof off);
    key.append(reinterpret_cast<const char*>(&s.length), sizeof s.length);
  }
  return key;
}

Result<std::unordered_set<std::string>> keys_of(const lt::torrent_info* ti) {
  std::unordered_set<std::string> keys;
  if (ti == nullptr || !ti->info_hashes().has_v1()) return keys;
  DFS_ASSIGN_OR_RETURN(ImageLayout layout, ImageLayout::from_files(ti->files()));
  std::vector<ImageLayout::Segment> segs;
  for (lt::piece_index_t p : ti->piece_range()) keys.insert(piece_key(*ti, layout, p, &segs));
  return keys;
}

void add_copy(ReusePlan* plan, const std::vector<ImageLayout::Segment>& segs) {
  for (const auto& s : segs) {
    if (s.pad) continue;
    if (!plan->copies.empty() &&
        plan->copies.back().offset + plan->copies.back().length == s.disk_offset) {
      plan->copies.back().length += s.length;
    } else {
      plan->copies.push_back({s.disk_offset, s.length});
    }
    plan->copy_bytes += s.length;
  }
}

void sort_copies(ReusePlan* plan) {
  std::sort(
      plan->copies.begin(), plan->copies.end(),
      [](const ReusePlan::Range& a, const ReusePlan::Range& b) { return a.offset < b.offset; });
}

// Whether the bytes of SEGS in TARGET (pads as zeros) hash to WANT; a read
// outside the target's files is a mismatch.
bool matches(const ImageTarget& target, const std::vector<ImageLayout::Segment>& segs,
             const lt::sha1_hash& want, std::vector<char>* buf) {
  lt::hasher h;
  for (const auto& s : segs) {
    buf->assign(s.length, 0);
    if (!s.pad && !target.read_at(buf->data(), s.length, s.disk_offset).is_ok()) return false;
    h.update(buf->data(), static_cast<int>(s.length));
  }
  return h.final() == want;
}

}  // namespace

Status PieceReuse::verify_rest(const lt::torrent_info& next,
                               const std::map<uint32_t, std::string>& spare,
                               const std::map<uint32_t, std::string>& current, ReusePlan* plan) {
  if (!next.info_hashes().has_v1()) return Status::ok();
  DFS_ASSIGN_OR_RETURN(ImageLayout layout, ImageLayout::from_files(next.files()));
  DFS_ASSIGN_OR_RETURN(auto in_spare, ImageTarget::open_regions(spare, /*writable=*/false));
  std::shared_ptr<ImageTarget> in_current;
  if (!current.empty()) {
    DFS_ASSIGN_OR_RETURN(in_current, ImageTarget::open_regions(current, /*writable=*/false));
  }
  std::vector<char> buf;
  for (lt::piece_index_t p : next.piece_range()) {
    const auto i = static_cast<size_t>(static_cast<int>(p));
    if (plan->have[i]) continue;
    const auto segs = layout.map(p, 0, next.piece_size(p));
    const lt::sha1_hash want = next.hash_for_piece(p);
    ++plan->pieces_hashed;
    if (matches(*in_spare, segs, want, &buf)) {
      plan->have[i] = true;
      ++plan->pieces_in_spare;
      --plan->pieces_missing;
    } else if (in_current && matches(*in_current, segs, want, &buf)) {
      plan->have[i] = true;
      ++plan->pieces_copied;
      --plan->pieces_missing;
      add_copy(plan, segs);
    }
  }
  sort_copies(plan);
  return Status::ok();
}

Result<ReusePlan> PieceReuse::plan(const lt::torrent_info& next, const lt::torrent_info* spare,
                                   const lt::torrent_info* current) {
  ReusePlan plan;
  plan.have.assign(static_cast<size_t>(next.num_pieces()), false);
  plan.pieces_missing = next.num_pieces();
  if (!next.info_hashes().has_v1()) return plan;  // no piece hashes to match on
  DFS_ASSIGN_OR_RETURN(ImageLayout layout, ImageLayout::from_files(next.files()));
  DFS_ASSIGN_OR_RETURN(auto in_spare, keys_of(spare));
  DFS_ASSIGN_OR_RETURN(auto in_current, keys_of(current));
  plan.pieces_missing = 0;
  std::vector<ImageLayout::Segment> segs;
  for (lt::piece_index_t p : next.piece_range()) {
    const std::string key = piece_key(next, layout, p, &segs);
    const auto i = static_cast<size_t>(static_cast<int>(p));
    if (in_spare.count(key)) {
      plan.have[i] = true;
      ++plan.pieces_in_spare;
    } else if (in_current.count(key)) {
      plan.have[i] = true;
      ++plan.pieces_copied;
      add_copy(&plan, segs);
    } else {
      ++plan.pieces_missing;
    }
  }
  sort_copies(&plan);
  return plan;
}

Status PieceReuse::copy(const ReusePlan& plan, const std::map<uint32_t, std::string>& from,
                        const std::map<uint32_t, std::string>& to) {
  if (plan.copies.empty()) return Status::ok();
  DFS_ASSIGN_OR_RETURN(auto src, ImageTarget::open_regions(from, /*writable=*/false));
  DFS_ASSIGN_OR_RETURN(auto dst, ImageTarget::open_regions(to, /*writable=*/true));
  std::vector<char> buf(1 << 20);
  for (const auto& r : plan.copies) {
    for (uint64_t done = 0; done < r.length;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), r.length - done));
      DFS_RETURN_IF_ERROR(src->read_at(buf.data(), n, r.offset + done));
      DFS_RETURN_IF_ERROR(dst->write_at(buf.data(), n, r.offset + done));
      done += n;
    }
  }
  return dst->sync();
}

}  // namespace dynamicfs

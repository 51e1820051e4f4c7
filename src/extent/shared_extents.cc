// SharedExtents: an interval map of extra references, split and merged as
// ranges gain and lose owners.
#include "src/extent/shared_extents.h"

#include <algorithm>

namespace dynamicfs {

void SharedExtents::split_locked(uint32_t disk, uint64_t at) {
  auto it = m_map.upper_bound(Key{disk, at});
  if (it == m_map.begin()) return;
  --it;
  const auto [d, off] = it->first;
  if (d != disk || off >= at || off + it->second.length <= at) return;
  Entry tail{off + it->second.length - at, it->second.extra};
  it->second.length = at - off;
  m_map.emplace(Key{disk, at}, tail);
}

void SharedExtents::coalesce_locked(uint32_t disk, uint64_t start, uint64_t end) {
  auto it = m_map.lower_bound(Key{disk, start});
  if (it != m_map.begin() && std::prev(it)->first.first == disk) --it;
  while (it != m_map.end() && it->first.first == disk && it->first.second <= end) {
    auto next = std::next(it);
    if (next == m_map.end() || next->first.first != disk) break;
    if (it->first.second + it->second.length == next->first.second &&
        it->second.extra == next->second.extra) {
      it->second.length += next->second.length;
      m_map.erase(next);
    } else {
      it = next;
    }
  }
}

template <typename OnEntry, typename OnGap>
void SharedExtents::walk_locked(const DiskRange& r, OnEntry on_entry, OnGap on_gap) {
  const uint64_t end = r.offset + r.length;
  split_locked(r.disk, r.offset);
  split_locked(r.disk, end);
  uint64_t pos = r.offset;
  auto it = m_map.lower_bound(Key{r.disk, r.offset});
  while (pos < end) {
    if (it != m_map.end() && it->first.first == r.disk && it->first.second == pos) {
      pos += it->second.length;
      it = on_entry(it);
      continue;
    }
    uint64_t gap_end = end;
    if (it != m_map.end() && it->first.first == r.disk) gap_end = std::min(end, it->first.second);
    on_gap(pos, gap_end, it);
    pos = gap_end;
  }
  coalesce_locked(r.disk, r.offset, end);
}

void SharedExtents::share(const DiskRange& r) {
  if (r.length == 0) return;
  std::lock_guard lk(m_mutex);
  walk_locked(
      r,
      [](Map::iterator it) {
        ++it->second.extra;
        return std::next(it);
      },
      [&](uint64_t from, uint64_t to, Map::iterator next) {
        // One owner so far, now two.
        m_map.emplace_hint(next, Key{r.disk, from}, Entry{to - from, 1});
        m_shared_bytes += to - from;
      });
}

void SharedExtents::release_one_locked(const DiskRange& r, std::vector<DiskRange>* now_free) {
  walk_locked(
      r,
      [&](Map::iterator it) {
        if (--it->second.extra > 0) return std::next(it);
        m_shared_bytes -= it->second.length;
        return m_map.erase(it);
      },
      [&](uint64_t from, uint64_t to, Map::iterator) {
        // The last owner let go.
        if (!now_free->empty() && now_free->back().disk == r.disk &&
            now_free->back().offset + now_free->back().length == from) {
          now_free->back().length += to - from;
        } else {
          now_free->push_back(DiskRange{r.disk, from, to - from});
        }
      });
}

void SharedExtents::release(const std::vector<DiskRange>& ranges,
                            std::vector<DiskRange>* now_free) {
  std::lock_guard lk(m_mutex);
  if (m_map.empty()) {
    // Nothing is shared: every range had one owner.
    for (const auto& r : ranges)
      if (r.length > 0) now_free->push_back(r);
    return;
  }
  for (const auto& r : ranges)
    if (r.length > 0) release_one_locked(r, now_free);
}

std::vector<std::pair<DiskRange, uint32_t>> SharedExtents::entries() const {
  std::lock_guard lk(m_mutex);
  std::vector<std::pair<DiskRange, uint32_t>> out;
  out.reserve(m_map.size());
  for (const auto& [k, e] : m_map)
    out.emplace_back(DiskRange{k.first, k.second, e.length}, e.extra);
  return out;
}

void SharedExtents::load(const DiskRange& r, uint32_t extra) {
  if (r.length == 0 || extra == 0) return;
  std::lock_guard lk(m_mutex);
  m_map[Key{r.disk, r.offset}] = Entry{r.length, extra};
  m_shared_bytes += r.length;
}

uint64_t SharedExtents::shared_bytes() const {
  std::lock_guard lk(m_mutex);
  return m_shared_bytes;
}

bool SharedExtents::empty() const {
  std::lock_guard lk(m_mutex);
  return m_map.empty();
}

std::vector<DiskRange> SharedExtents::count(std::vector<DiskRange> refs, SharedExtents* shared) {
  // Sweep every reference's start and end in disk order, keeping the number
  // of references that cover the current position.
  struct Edge {
    uint32_t disk;
    uint64_t at;
    int delta;
  };
  std::vector<Edge> edges;
  edges.reserve(refs.size() * 2);
  for (const auto& r : refs) {
    if (r.length == 0) continue;
    edges.push_back(Edge{r.disk, r.offset, +1});
    edges.push_back(Edge{r.disk, r.offset + r.length, -1});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.disk != b.disk ? a.disk < b.disk : a.at < b.at;
  });
  std::vector<DiskRange> used;
  int64_t depth = 0;
  for (size_t i = 0; i < edges.size();) {
    const uint32_t disk = edges[i].disk;
    const uint64_t at = edges[i].at;
    for (; i < edges.size() && edges[i].disk == disk && edges[i].at == at; ++i)
      depth += edges[i].delta;
    if (depth == 0 || i == edges.size() || edges[i].disk != disk) continue;
    const uint64_t next = edges[i].at;
    if (!used.empty() && used.back().disk == disk &&
        used.back().offset + used.back().length == at) {
      used.back().length += next - at;
    } else {
      used.push_back(DiskRange{disk, at, next - at});
    }
    if (depth > 1 && shared != nullptr) {
      std::lock_guard lk(shared->m_mutex);
      auto& e = shared->m_map[Key{disk, at}];
      e = Entry{next - at, static_cast<uint32_t>(depth - 1)};
      shared->m_shared_bytes += next - at;
      shared->coalesce_locked(disk, at, next);
    }
  }
  return used;
}

std::vector<SharedExtents::Piece> SharedExtents::pieces_locked(const DiskRange& r) const {
  std::vector<Piece> out;
  const uint64_t end = r.offset + r.length;
  uint64_t pos = r.offset;
  auto it = m_map.upper_bound(Key{r.disk, r.offset});
  if (it != m_map.begin()) {
    auto prev = std::prev(it);
    if (prev->first.first == r.disk && prev->first.second + prev->second.length > r.offset)
      it = prev;
  }
  for (; pos < end && it != m_map.end() && it->first.first == r.disk && it->first.second < end;
       ++it) {
    const uint64_t s = std::max(pos, it->first.second);
    const uint64_t e = std::min(end, it->first.second + it->second.length);
    if (s > pos) out.push_back(Piece{pos, s, 0});
    out.push_back(Piece{s, e, it->second.extra});
    pos = e;
  }
  if (pos < end) out.push_back(Piece{pos, end, 0});
  return out;
}

uint64_t SharedExtents::held_only_by(const std::vector<DiskRange>& refs) const {
  SharedExtents own;
  const std::vector<DiskRange> used = count(refs, &own);
  uint64_t bytes = 0;
  std::lock_guard lk(m_mutex);
  for (const DiskRange& u : used) {
    std::vector<Piece> mine;
    {
      std::lock_guard own_lk(own.m_mutex);
      mine = own.pieces_locked(u);
    }
    const std::vector<Piece> all = pieces_locked(u);
    // Both tile u: walk them side by side.
    size_t i = 0, j = 0;
    uint64_t pos = u.offset;
    while (i < mine.size() && j < all.size()) {
      const uint64_t e = std::min(mine[i].end, all[j].end);
      if (mine[i].extra == all[j].extra) bytes += e - pos;
      pos = e;
      if (mine[i].end == e) ++i;
      if (all[j].end == e) ++j;
    }
  }
  return bytes;
}

}  // namespace dynamicfs

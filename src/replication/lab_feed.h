// LabFeed: what a lab-sync publisher announces to its followers (the body
// of GET /feed): the volume, and the snapshots it seeds, oldest first, each
// with its generation (which only grows), the SHA-256 of its torrent (served
// at /torrents/GENERATION) and the port its seed listens on. The body is
// signed (FeedSecret), so the torrent hash ties what a follower fetches to
// what the publisher published.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/common/result.h"

namespace dynamicfs {

struct LabFeedEntry {
  uint64_t generation = 0;
  std::string snapshot;
  std::string torrent_sha256;
  uint64_t torrent_size = 0;
  uint64_t image_bytes = 0;  // bytes the torrent covers
  int peer_port = 0;         // the publisher's BitTorrent port for it
  double published_unix = 0;
};

struct LabFeed {
  static constexpr const char* kFormat = "dynamicfs-lab-feed-1";
  static constexpr size_t kMaxBytes = 1 << 20;  // a feed body
  static constexpr size_t kMaxTorrentBytes = 64 << 20;

  std::string volume_uuid;
  std::string publisher;  // host name of the master, for messages
  std::vector<LabFeedEntry> published;

  const LabFeedEntry* latest() const { return published.empty() ? nullptr : &published.back(); }
  const LabFeedEntry* find(uint64_t generation) const;

  std::string to_json() const;
  // Checks the format, that generations increase, that the hashes are
  // SHA-256 hex and that snapshot names are valid.
  static Result<LabFeed> from_json(const std::string& text);
  static std::string torrent_path(uint64_t generation);
};

}  // namespace dynamicfs

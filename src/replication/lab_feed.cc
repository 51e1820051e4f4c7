// LabFeed: JSON encoding and the checks a follower applies before trusting
// any field of a (signed) feed.
#include "src/replication/lab_feed.h"

#include <nlohmann/json.hpp>

#include "src/extent/snapshot_catalog.h"

namespace dynamicfs {

namespace {

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

const LabFeedEntry* LabFeed::find(uint64_t generation) const {
  for (const auto& e : published)
    if (e.generation == generation) return &e;
  return nullptr;
}

std::string LabFeed::torrent_path(uint64_t generation) {
  return "/torrents/" + std::to_string(generation);
}

std::string LabFeed::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : published) {
    list.push_back({{"generation", e.generation},
                    {"snapshot", e.snapshot},
                    {"torrent", torrent_path(e.generation)},
                    {"torrent_sha256", e.torrent_sha256},
                    {"torrent_size", e.torrent_size},
                    {"image_bytes", e.image_bytes},
                    {"peer_port", e.peer_port},
                    {"published_unix", e.published_unix}});
  }
  return nlohmann::json{{"format", kFormat},
                        {"volume_uuid", volume_uuid},
                        {"publisher", publisher},
                        {"published", list}}
      .dump();
}

Result<LabFeed> LabFeed::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::error(EBADMSG, "the feed is not JSON");
  LabFeed f;
  try {
    if (!j.contains("format") || !j["format"].is_string() || j["format"] != kFormat)
      return Status::error(EBADMSG, std::string("the feed is not in format ") + kFormat);
    f.volume_uuid = j.at("volume_uuid").get<std::string>();
    f.publisher = j.value("publisher", "");
    uint64_t last = 0;
    for (const auto& e : j.at("published")) {
      LabFeedEntry x;
      x.generation = e.at("generation").get<uint64_t>();
      x.snapshot = e.at("snapshot").get<std::string>();
      x.torrent_sha256 = e.at("torrent_sha256").get<std::string>();
      x.torrent_size = e.at("torrent_size").get<uint64_t>();
      x.image_bytes = e.value("image_bytes", uint64_t{0});
      x.peer_port = e.at("peer_port").get<int>();
      x.published_unix = e.value("published_unix", 0.0);
      if (x.generation <= last)
        return Status::error(EBADMSG, "the feed's generations do not increase");
      last = x.generation;
      Status named = SnapshotCatalog::check_name(x.snapshot);
      if (!named.is_ok()) return Status::error(EBADMSG, "the feed names " + named.message());
      if (!is_sha256_hex(x.torrent_sha256))
        return Status::error(EBADMSG, "the feed's torrent hash is not SHA-256 hex");
      if (x.torrent_size == 0 || x.torrent_size > kMaxTorrentBytes)
        return Status::error(EBADMSG, "the feed's torrent size is out of range");
      if (x.peer_port <= 0 || x.peer_port > 65535)
        return Status::error(EBADMSG, "the feed's peer port is out of range");
      f.published.push_back(std::move(x));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::error(EBADMSG, std::string("the feed is malformed: ") + e.what());
  }
  return f;
}

}  // namespace dynamicfs

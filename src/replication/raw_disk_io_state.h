// RawDiskIo's private state, shared by its two implementation files: the
// store buffer of received blocks, one torrent's storage, a queued write.
// Nothing outside RawDiskIo includes this.
#pragma once

#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/replication/raw_disk_io.h"

namespace dynamicfs {

namespace raw_disk_io_detail {

constexpr int kBlock = static_cast<int>(BufferPool::kBlockSize);

inline lt::storage_error to_storage_error(const Status& s, int file, lt::operation_t op) {
  lt::storage_error e(lt::error_code(s.err(), boost::system::system_category()), op);
  e.file(lt::file_index_t(file));
  return e;
}

}  // namespace raw_disk_io_detail

// Received blocks not yet on disk, keyed by (storage, piece, block), in 32
// shards so the network thread and the workers rarely meet on one lock.
class RawDiskIo::StoreBuffer {
 public:
  static uint64_t key(lt::storage_index_t s, lt::piece_index_t p, int offset) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(s)) << 48) |
           (static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int>(p))) << 16) |
           static_cast<uint64_t>(offset / raw_disk_io_detail::kBlock);
  }
  void insert(uint64_t k, const char* buf) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    sh.blocks[k] = buf;
  }
  // Removes the entry of K if it is still BUF (a newer write of the same
  // block keeps its own entry).
  void erase(uint64_t k, const char* buf) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    auto it = sh.blocks.find(k);
    if (it != sh.blocks.end() && it->second == buf) sh.blocks.erase(it);
  }
  // Copies `len` bytes at `skip` of the block into out; false if absent.
  bool copy(uint64_t k, int skip, int len, char* out) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    auto it = sh.blocks.find(k);
    if (it == sh.blocks.end()) return false;
    std::memcpy(out, it->second + skip, static_cast<size_t>(len));
    return true;
  }

 private:
  struct alignas(64) Shard {
    std::mutex mutex;
    std::unordered_map<uint64_t, const char*> blocks;
  };
  Shard& shard(uint64_t k) { return m_shards[(k ^ (k >> 17)) % m_shards.size()]; }
  std::array<Shard, 32> m_shards;
};

struct RawDiskIo::Storage {
  lt::storage_index_t index{0};
  const lt::file_storage* files = nullptr;
  ImageLayout layout;
  Status layout_status;
  std::string path;
  std::shared_ptr<void> torrent;  // keeps the torrent alive while jobs run

  std::mutex mutex;
  ImageTarget::Opener opener;
  std::shared_ptr<ImageTarget> disk;  // opened on first use, closed by release
  int pending_writes = 0;
  std::vector<Task> on_drained;

  // The open device, opening it if needed.
  Result<std::shared_ptr<ImageTarget>> open(bool writable) {
    std::lock_guard lk(mutex);
    if (!layout_status.is_ok()) return layout_status;
    if (!disk) {
      auto d = opener ? opener(path, writable) : ImageTarget::open_disk(path, writable);
      if (!d.is_ok()) return d.status();
      disk = std::move(d).value();
    }
    return disk;
  }
};

struct RawDiskIo::WriteJob {
  std::shared_ptr<Storage> st;
  lt::peer_request r;
  char* buf = nullptr;
  uint64_t key = 0;
  std::vector<ImageLayout::Segment> segs;
  std::function<void(const lt::storage_error&)> handler;
  std::shared_ptr<WorkGuard> work;  // released after the handler is posted
  // One segment of real data: may be merged with its neighbours.
  bool mergeable() const { return segs.size() == 1 && !segs[0].pad; }
};

}  // namespace dynamicfs

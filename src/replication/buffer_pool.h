// BufferPool: the one pool of 16 KiB block buffers of the replication disk
// I/O. Buffers in flight (received blocks waiting to be written, blocks read
// for peers) are counted against a high watermark; above it async_write asks
// peers to pause, and the observers are told to resume once the pool falls
// below the low watermark, so a slow disk applies backpressure instead of
// growing memory without bound.
#pragma once

#include <atomic>
#include <cstddef>
#include <libtorrent/disk_observer.hpp>
#include <memory>
#include <mutex>
#include <vector>

namespace dynamicfs {

class BufferPool {
 public:
  static constexpr size_t kBlockSize = 0x4000;  // libtorrent's default_block_size

  explicit BufferPool(size_t max_buffers) { set_limit(max_buffers); }
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of kBlockSize bytes (never nullptr; allocation failure aborts
  // like any new). Buffers are recycled through a free list.
  char* allocate();
  // Returns a buffer; may wake the observers waiting for space. Returns the
  // observers to notify (call on_disk() on the network thread).
  std::vector<std::weak_ptr<lt::disk_observer>> release(char* buf);

  // True when the pool is above the high watermark: the caller should hold
  // `o` and notify it once release() returns it.
  bool over_limit(std::shared_ptr<lt::disk_observer> o);

  void set_limit(size_t max_buffers);
  size_t in_use() const { return m_in_use.load(); }
  size_t limit() const { return m_high.load(); }

 private:
  std::mutex m_mutex;
  std::vector<char*> m_free;
  std::vector<std::weak_ptr<lt::disk_observer>> m_waiting;
  std::atomic<size_t> m_in_use{0};
  std::atomic<size_t> m_high{0};
  std::atomic<size_t> m_low{0};
  bool m_exceeded = false;
};

}  // namespace dynamicfs

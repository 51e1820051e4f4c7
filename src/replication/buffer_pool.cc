// BufferPool: free list and watermarks.
#include "src/replication/buffer_pool.h"

#include <cstdlib>
#include <new>

namespace dynamicfs {

BufferPool::~BufferPool() {
  for (char* b : m_free) std::free(b);
}

char* BufferPool::allocate() {
  char* b = nullptr;
  {
    std::lock_guard lk(m_mutex);
    if (!m_free.empty()) {
      b = m_free.back();
      m_free.pop_back();
    }
  }
  if (b == nullptr) {
    b = static_cast<char*>(std::aligned_alloc(4096, kBlockSize));
    if (b == nullptr) throw std::bad_alloc();
  }
  m_in_use.fetch_add(1);
  return b;
}

std::vector<std::weak_ptr<lt::disk_observer>> BufferPool::release(char* buf) {
  std::vector<std::weak_ptr<lt::disk_observer>> wake;
  if (buf == nullptr) return wake;
  size_t now = m_in_use.fetch_sub(1) - 1;
  std::lock_guard lk(m_mutex);
  if (m_free.size() < 256) {
    m_free.push_back(buf);
  } else {
    std::free(buf);
  }
  if (m_exceeded && now <= m_low.load()) {
    m_exceeded = false;
    wake.swap(m_waiting);
  }
  return wake;
}

bool BufferPool::over_limit(std::shared_ptr<lt::disk_observer> o) {
  if (m_in_use.load() < m_high.load()) return false;
  // Checked again under the lock that release() takes after counting down,
  // so a release racing with this call always sees m_exceeded.
  std::lock_guard lk(m_mutex);
  if (m_in_use.load() < m_high.load()) return false;
  m_exceeded = true;
  if (o) m_waiting.push_back(o);
  return true;
}

void BufferPool::set_limit(size_t max_buffers) {
  if (max_buffers < 16) max_buffers = 16;
  m_high.store(max_buffers);
  m_low.store(max_buffers / 2);
}

}  // namespace dynamicfs

// JobQueue: the work list of a queue-driven background job (files to
// convert, snapshots whose space to release, copies to repair). Producers
// push; the job's pass takes items one at a time and marks each done; tests
// and shutdown wait for the queue to drain. An item counts as pending from
// its push until it is done, so "nothing pending" means the work is over.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace dynamicfs {

template <class T>
class JobQueue {
 public:
  // False (the item is dropped) when the queue holds MAX items or is closed.
  bool push(T item, size_t max = static_cast<size_t>(-1)) {
    std::lock_guard lk(m_mutex);
    if (m_closed || m_items.size() >= max) return false;
    m_items.push_back(std::move(item));
    return true;
  }
  // The next item, or nothing when the queue is empty. Call done() after it.
  std::optional<T> take() {
    std::lock_guard lk(m_mutex);
    if (m_items.empty()) return std::nullopt;
    T item = std::move(m_items.front());
    m_items.pop_front();
    ++m_busy;
    return item;
  }
  void done() {
    {
      std::lock_guard lk(m_mutex);
      --m_busy;
    }
    m_cv.notify_all();
  }
  // Later pushes are refused (the job is stopping for good).
  void close() {
    std::lock_guard lk(m_mutex);
    m_closed = true;
  }
  // Waits until every pushed item is done.
  void drain() {
    std::unique_lock lk(m_mutex);
    m_cv.wait(lk, [&] { return m_items.empty() && m_busy == 0; });
  }
  size_t pending() const {
    std::lock_guard lk(m_mutex);
    return m_items.size() + m_busy;
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<T> m_items;
  size_t m_busy = 0;
  bool m_closed = false;
};

}  // namespace dynamicfs

// CoalescedSync: ticket-based leader election around one sync function.
#include "src/common/coalesced_sync.h"

#include <thread>

namespace dynamicfs {

Status CoalescedSync::sync(const std::function<Status()>& do_sync,
                           std::chrono::microseconds gather_delay) {
  std::unique_lock lk(m_mutex);
  uint64_t my = ++m_requested;
  while (m_completed < my) {
    if (m_running) {
      m_cv.wait(lk);
      continue;
    }
    m_running = true;
    if (gather_delay.count() > 0) {
      // Let concurrent callers join this sync instead of the next one.
      lk.unlock();
      std::this_thread::sleep_for(gather_delay);
      lk.lock();
    }
    uint64_t from = m_completed;
    uint64_t target = m_requested;
    lk.unlock();
    Status st = do_sync();
    lk.lock();
    m_running = false;
    ++m_syncs;
    m_completed = target;
    if (!st.is_ok()) {
      m_last_error = st;
      m_last_error_from = from;
      m_last_error_upto = target;
    }
    m_cv.notify_all();
  }
  // A failed sync fails exactly the requests it covered.
  if (!m_last_error.is_ok() && my > m_last_error_from && my <= m_last_error_upto)
    return m_last_error;
  return Status::ok();
}

uint64_t CoalescedSync::syncs() const {
  std::lock_guard lk(m_mutex);
  return m_syncs;
}

uint64_t CoalescedSync::requests() const {
  std::lock_guard lk(m_mutex);
  return m_requested;
}

}  // namespace dynamicfs

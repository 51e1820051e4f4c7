// CoalescedSync: lets many threads that each need "everything so far is
// durable" share one sync call. A caller that arrives while a sync is running
// waits for the next one (which covers its writes); callers that arrive
// together share it. An optional gather delay lets the leader wait briefly for
// more callers before syncing. Used for the metadata WAL and for each disk.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

#include "src/common/status.h"

namespace dynamicfs {

class CoalescedSync {
 public:
  // Runs `do_sync` (or joins a sync that started after this call) and
  // returns its status.
  Status sync(const std::function<Status()>& do_sync,
              std::chrono::microseconds gather_delay = std::chrono::microseconds(0));
  uint64_t syncs() const;
  uint64_t requests() const;

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  uint64_t m_requested = 0;  // ticket of the latest request
  uint64_t m_completed = 0;  // every ticket <= this is covered
  bool m_running = false;
  uint64_t m_syncs = 0;
  Status m_last_error;
  uint64_t m_last_error_from = 0;  // tickets in (from, upto] got the error
  uint64_t m_last_error_upto = 0;
};

}  // namespace dynamicfs

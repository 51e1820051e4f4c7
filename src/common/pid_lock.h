// PidLock: a lock file that says "one process runs here, and which": its
// owner holds an exclusive flock on it for its whole life and has written
// its pid into it. Used where one long-running process per directory is
// allowed (a lab-sync publisher per volume, a follower per directory) and
// other commands need to find it (to signal it, or to tell the user).
#pragma once

#include <string>

#include "src/common/result.h"

namespace dynamicfs {

class PidLock {
 public:
  // Takes PATH's lock without waiting (creating PATH) and writes this
  // process's pid into it; returns the fd, which holds the lock until it is
  // closed. EBUSY when another process holds it.
  static Result<int> take(const std::string& path);
  // The pid of the process holding PATH's lock: 0 when nobody does (or
  // PATH does not exist), -1 when it is held but the pid cannot be read.
  static int holder(const std::string& path);
};

}  // namespace dynamicfs

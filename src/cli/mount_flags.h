// MountFlags: the kernel's per-mount flags (mount(2) MS_*) of a live mount,
// read, changed by mount-option words, and applied with a remount. Shared
// by mount.dynamicfs's remount and by the daemon, which sets the access-time
// flags libfuse cannot pass, so that the mount table (and so what mount(8)
// repeats on a remount) tells the truth.
#pragma once

#include <string>

#include "src/common/status.h"

namespace dynamicfs {

class MountFlags {
 public:
  // The flags of the mount at MP now (mount(2) clears every flag a remount
  // is not given, so a remount starts from these).
  static unsigned long current(const std::string& mp);
  // Applies one option word (ro, rw, nosuid, noatime, strictatime, ...) to
  // FLAGS; false if it is no mount flag.
  static bool apply(const std::string& opt, unsigned long* flags);
  // mount(2) MS_REMOUNT of MP with FLAGS.
  static Status remount(const std::string& mp, unsigned long flags);
};

}  // namespace dynamicfs

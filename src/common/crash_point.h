// crash_point: named places in the code where a crash test can have the
// daemon kill itself (SIGKILL), to check that an operation interrupted right
// there is atomic after remount. Only a daemon started with fault injection
// on (tests) can arm one, through its control socket; unarmed, a point costs
// one relaxed atomic load.
#pragma once

#include <string>

namespace dynamicfs {

// Kills the process with SIGKILL if `name` is the armed point.
void crash_point(const char* name);
// Arms `name` (once: the next pass through it kills); "" disarms.
void arm_crash_point(const std::string& name);
// The points the code has, for checking what a test asks for.
bool is_crash_point(const std::string& name);

}  // namespace dynamicfs

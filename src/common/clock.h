// Wall-clock timestamps with nanosecond precision, as stored in inodes.
#pragma once

#include <time.h>

#include <cstdint>

namespace dynamicfs {

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;
  bool operator==(const Timestamp&) const = default;
  auto operator<=>(const Timestamp&) const = default;
};

inline Timestamp now_timestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return Timestamp{ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

// Seconds since the epoch (CLOCK_REALTIME), for logs and JSON events.
inline double unix_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace dynamicfs

// Histogram: a latency distribution with fixed buckets that any thread can
// update without a lock (one relaxed atomic add per bucket hit). The metrics
// layer reads snapshots of it for status, JSON and Prometheus output, and
// computes quantiles (p50, p99) from the buckets.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace dynamicfs {

// A copy of a histogram's state. counts[i] are per bucket (not cumulative);
// the last bucket is +Inf.
struct HistogramSnapshot {
  std::vector<double> bounds;  // upper bounds in seconds, ascending
  std::vector<uint64_t> counts;
  uint64_t count = 0;
  double sum = 0;  // seconds

  // Estimates the q-quantile (0 < q < 1) by linear interpolation inside the
  // bucket that holds it; 0 when empty. Values in the +Inf bucket report the
  // largest finite bound.
  double quantile(double q) const;
  // The observations made between `earlier` and this snapshot.
  HistogramSnapshot minus(const HistogramSnapshot& earlier) const;
};

class Histogram {
 public:
  // Upper bounds from 10 us to 10 s: wide enough for a cached getattr and a
  // stalled fsync alike.
  static constexpr std::array<uint64_t, 19> kBoundsNs = {
      10'000,        25'000,        50'000,        100'000,       250'000,
      500'000,       1'000'000,     2'500'000,     5'000'000,     10'000'000,
      25'000'000,    50'000'000,    100'000'000,   250'000'000,   500'000'000,
      1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

  void observe_ns(uint64_t ns) {
    size_t i = 0;
    while (i < kBoundsNs.size() && ns > kBoundsNs[i]) ++i;
    m_buckets[i].fetch_add(1, std::memory_order_relaxed);
    m_sum_ns.fetch_add(ns, std::memory_order_relaxed);
  }
  HistogramSnapshot snapshot() const;
  // Observations so far, and their total, without copying the buckets.
  uint64_t count() const;
  uint64_t sum_ns() const { return m_sum_ns.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> m_buckets{};
  std::atomic<uint64_t> m_sum_ns{0};
};

}  // namespace dynamicfs

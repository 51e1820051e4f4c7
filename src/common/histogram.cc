// Histogram: snapshots and quantile estimation.
#include "src/common/histogram.h"

namespace dynamicfs {

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.bounds.reserve(kBoundsNs.size());
  for (uint64_t b : kBoundsNs) s.bounds.push_back(static_cast<double>(b) / 1e9);
  s.counts.reserve(m_buckets.size());
  for (const auto& b : m_buckets) {
    uint64_t n = b.load(std::memory_order_relaxed);
    s.counts.push_back(n);
    s.count += n;
  }
  s.sum = static_cast<double>(m_sum_ns.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (const auto& b : m_buckets) n += b.load(std::memory_order_relaxed);
  return n;
}

double HistogramSnapshot::quantile(double q) const {
  if (count == 0 || counts.empty()) return 0;
  double rank = q * static_cast<double>(count);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(seen + counts[i]) >= rank) {
      if (i >= bounds.size()) return bounds.empty() ? 0 : bounds.back();
      double lo = i == 0 ? 0 : bounds[i - 1];
      double within = (rank - static_cast<double>(seen)) / static_cast<double>(counts[i]);
      return lo + (bounds[i] - lo) * within;
    }
    seen += counts[i];
  }
  return bounds.empty() ? 0 : bounds.back();
}

HistogramSnapshot HistogramSnapshot::minus(const HistogramSnapshot& earlier) const {
  HistogramSnapshot d = *this;
  if (earlier.counts.size() != counts.size()) return d;
  d.count = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum = sum >= earlier.sum ? sum - earlier.sum : 0;
  return d;
}

}  // namespace dynamicfs

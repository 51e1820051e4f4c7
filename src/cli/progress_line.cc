// ProgressLine: terminal drawing.
#include "src/cli/progress_line.h"

#include <unistd.h>

#include <cstdio>

#include "src/control/metric_format.h"

namespace dynamicfs {

ProgressLine::ProgressLine() : m_tty(::isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(double fraction, const std::string& detail) {
  if (!m_tty) return;
  if (fraction < 0) fraction = 0;
  if (fraction > 1) fraction = 1;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), ' ');
  std::fprintf(stderr, "\r\033[K[%s] %5.1f%%  %s", bar.c_str(), fraction * 100.0, detail.c_str());
  std::fflush(stderr);
  m_drawn = true;
}

void ProgressLine::done() {
  if (m_drawn) std::fputs("\n", stderr);
  m_drawn = false;
}

std::string ProgressLine::rate(double bytes_per_second) {
  return MetricFormat::bytes(bytes_per_second) + "/s";
}

std::string ProgressLine::eta(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  auto s = static_cast<long>(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace dynamicfs

// ProgressLine: the live progress display of long CLI jobs (image hashing,
// replication): a bar redrawn in place on a terminal, or nothing when the
// output is not one (scripts use --json lines instead).
#pragma once

#include <cstdint>
#include <string>

namespace dynamicfs {

class ProgressLine {
 public:
  ProgressLine();
  bool tty() const { return m_tty; }
  // Redraws: "[#####     ]  45.2%  DETAIL".
  void update(double fraction, const std::string& detail);
  // Ends the line (before other output).
  void done();

  static std::string rate(double bytes_per_second);
  static std::string eta(double seconds);

 private:
  bool m_tty;
  bool m_drawn = false;
};

}  // namespace dynamicfs

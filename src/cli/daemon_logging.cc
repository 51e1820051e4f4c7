// DaemonLogging: sinks and the journald priority flag.
#include "src/cli/daemon_logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "src/extent/volume.h"

namespace dynamicfs {

namespace {

// %N: the syslog priority of the message as "<N>" (sd-daemon(3) prefixes).
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    int prio = 6;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        prio = 7;
        break;
      case spdlog::level::info:
        prio = 6;
        break;
      case spdlog::level::warn:
        prio = 4;
        break;
      case spdlog::level::err:
        prio = 3;
        break;
      default:
        prio = 2;
        break;
    }
    char text[4] = {'<', static_cast<char>('0' + prio), '>', '\0'};
    dest.append(text, text + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

}  // namespace

bool DaemonLogging::under_systemd() {
  // systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected
  // to stderr; an inherited variable whose stream is no longer stderr (a
  // shell started from a unit, redirected elsewhere) does not count.
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return std::string(js) == std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
                                std::to_string(static_cast<unsigned long long>(st.st_ino));
}

void DaemonLogging::setup(const std::string& volume_dir, bool foreground) {
  std::vector<spdlog::sink_ptr> sinks;
  std::error_code ec;
  std::string dir = Volume::log_dir(volume_dir);
  std::filesystem::create_directories(dir, ec);
  try {
    auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(dir + "/dynamicfs.log",
                                                                       kMaxFileBytes, kMaxFiles);
    file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] [%t] %v");
    sinks.push_back(file);
  } catch (const spdlog::spdlog_ex&) {
    // The volume may be read-only; keep going with stderr only.
  }
  if (foreground || under_systemd()) {
    auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    if (under_systemd()) {
      auto formatter = std::make_unique<spdlog::pattern_formatter>();
      formatter->add_flag<SyslogPriorityFlag>('N').set_pattern("%N%v");
      err->set_formatter(std::move(formatter));
      err->set_color_mode(spdlog::color_mode::never);
    } else {
      err->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    }
    sinks.push_back(err);
  }
  auto logger = std::make_shared<spdlog::logger>("dynamicfs", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

}  // namespace dynamicfs

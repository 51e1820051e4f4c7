// ScrubService: one scrub at a time, with progress.
#include "src/cli/scrub_service.h"

#include <spdlog/spdlog.h>

namespace dynamicfs {

Result<ScrubReport> ScrubService::run(uint64_t rate_bytes_per_sec) {
  auto scrubber = std::make_shared<Scrubber>(m_fs);
  scrubber->set_rate(rate_bytes_per_sec);  // before set_rate() can reach it
  {
    std::lock_guard lk(m_mutex);
    if (m_active) return Status::error(EBUSY, "a scrub is already running on this volume");
    if (m_cancelled) return Status::error(ESHUTDOWN, "the daemon is shutting down");
    uint64_t used = 0;
    for (const auto& d : m_fs.stats().disks) used += d.used();
    m_expected = used;
    m_active = scrubber;
  }
  spdlog::info("scrub started ({} MB/s limit)", rate_bytes_per_sec == 0
                                                    ? std::string("no")
                                                    : std::to_string(rate_bytes_per_sec / 1000000));
  auto report = scrubber->run();
  std::lock_guard lk(m_mutex);
  m_active.reset();
  m_last_end = std::chrono::steady_clock::now();
  m_last_bytes = scrubber->bytes_done();
  m_bytes_total += m_last_bytes;
  if (report.is_ok()) {
    ++m_scrubs;
    m_last_report = report_json(report.value());
    spdlog::info(
        "scrub finished: {} extents, {} bytes, {} checksum errors ({} repaired, {} unrepaired), "
        "{} read errors",
        report->extents, report->bytes, report->checksum_errors, report->repaired,
        report->unrepaired, report->read_errors);
  } else {
    spdlog::error("scrub failed: {}", report.status().to_string());
  }
  return report;
}

void ScrubService::set_rate(uint64_t rate_bytes_per_sec) {
  std::lock_guard lk(m_mutex);
  if (m_active) m_active->set_rate(rate_bytes_per_sec);
}

void ScrubService::cancel() {
  {
    std::lock_guard lk(m_mutex);
    m_cancelled = true;
    if (m_active) m_active->cancel();
  }
  m_jobs.stop();
}

ScrubService::~ScrubService() {
  cancel();
}

void ScrubService::start_periodic(std::function<uint64_t()> interval_seconds,
                                  std::function<uint64_t()> rate) {
  std::lock_guard lk(m_mutex);
  m_interval = std::move(interval_seconds);
  m_rate = std::move(rate);
  BackgroundScheduler::Job job;
  job.name = "scrub";
  job.period = [] { return std::chrono::milliseconds(1000); };
  job.pass = [this] { periodic_pass(); };
  m_periodic = m_jobs.start(std::move(job));
}

void ScrubService::wake_periodic() {
  m_jobs.wake(m_periodic);
}

void ScrubService::periodic_pass() {
  std::unique_lock lk(m_mutex);
  if (m_cancelled) return;
  const uint64_t interval = m_interval();
  if (interval == 0 || m_active) return;
  if (std::chrono::steady_clock::now() - m_last_end < std::chrono::seconds(interval)) return;
  const uint64_t rate = m_rate();
  lk.unlock();
  spdlog::info("periodic scrub (every {} s) starting", interval);
  auto r = run(rate);
  if (!r.is_ok() && r.err() != EBUSY && r.err() != ESHUTDOWN)
    spdlog::error("periodic scrub failed: {}", r.status().to_string());
  lk.lock();
  m_last_end = std::chrono::steady_clock::now();
}

ScrubProgress ScrubService::progress() const {
  std::lock_guard lk(m_mutex);
  ScrubProgress p;
  p.running = m_active != nullptr;
  p.bytes_done = m_active ? m_active->bytes_done() : m_last_bytes;
  p.bytes_expected = m_expected;
  p.scrubs_total = m_scrubs;
  p.periodic_interval = m_interval ? m_interval() : 0;
  p.bytes_total = m_bytes_total + (m_active ? m_active->bytes_done() : 0);
  p.last_report = m_last_report;
  return p;
}

nlohmann::json ScrubService::report_json(const ScrubReport& r) {
  return {{"extents", r.extents},
          {"bytes", r.bytes},
          {"checksum_errors", r.checksum_errors},
          {"read_errors", r.read_errors},
          {"repaired", r.repaired},
          {"unrepaired", r.unrepaired},
          {"problems", r.problems}};
}

}  // namespace dynamicfs

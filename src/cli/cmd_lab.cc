// `dynamicfs replicate publish|follow|rollback|status`: lab sync. publish
// runs the master's publisher (or, with --now, asks the running one for a
// snapshot); follow keeps a follower directory on the newest published
// snapshot; rollback and status work on a follower directory.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "src/cli/commands.h"
#include "src/cli/lab_follower.h"
#include "src/cli/lab_publisher.h"
#include "src/common/clock.h"
#include "src/common/file_sync.h"
#include "src/common/pid_lock.h"
#include "src/control/control_client.h"
#include "src/control/metric_format.h"

namespace dynamicfs {

namespace {

using nlohmann::json;

FollowSignals g_signals;
volatile sig_atomic_t g_publish_now = 0;

void on_stop(int) {
  g_signals.stop = 1;
}
void on_hup(int) {
  g_signals.reload = 1;
}
void on_usr1(int) {
  g_signals.poll = 1;
  g_publish_now = 1;
}

void install_handlers() {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, nullptr);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, nullptr);
}

// VOLUME/publish/publisher.lock: held by the volume's one publisher.
std::string publisher_lock(const std::string& volume_dir) {
  return LabPublisher::state_dir(volume_dir) + "/publisher.lock";
}

void print_published(const LabFeedEntry& e, bool as_json) {
  if (as_json) {
    std::printf("%s\n", json{{"event", "published"},
                             {"generation", e.generation},
                             {"snapshot", e.snapshot},
                             {"image_bytes", e.image_bytes},
                             {"torrent_bytes", e.torrent_size},
                             {"peer_port", e.peer_port},
                             {"unix_time", e.published_unix}}
                            .dump()
                            .c_str());
  } else {
    std::printf("published generation %llu: snapshot %s, %s image, seeding on port %d\n",
                static_cast<unsigned long long>(e.generation), e.snapshot.c_str(),
                MetricFormat::bytes(static_cast<double>(e.image_bytes)).c_str(), e.peer_port);
  }
  std::fflush(stdout);
}

// `publish --now`: signal the running publisher and wait for its next
// generation in state.json.
int publish_now(const std::string& volume_dir) {
  const int holder = PidLock::holder(publisher_lock(volume_dir));
  if (holder == 0) {
    return fail("no publisher runs for " + volume_dir +
                "; start one with `dynamicfs replicate publish MOUNTPOINT --secret FILE`");
  }
  if (holder < 0) return fail("a publisher already runs for " + volume_dir);
  uint64_t failures_before = 0;
  const uint64_t before = LabPublisher::published_generation(volume_dir, &failures_before);
  if (::kill(holder, SIGUSR1) != 0)
    return fail("cannot signal publisher pid " + std::to_string(holder));
  for (int i = 0; i < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    uint64_t failures = 0;
    std::string error;
    uint64_t now = LabPublisher::published_generation(volume_dir, &failures, &error);
    if (failures > failures_before) return fail("the publisher could not publish: " + error);
    if (now > before) {
      std::printf("published generation %llu\n", static_cast<unsigned long long>(now));
      return 0;
    }
    if (::kill(holder, 0) != 0)
      return fail("the publisher (pid " + std::to_string(holder) + ") exited");
  }
  return fail("the publisher did not publish within 10 minutes; see its log");
}

}  // namespace

int cmd_publish(const PublishOptions& o) {
  auto mount = ControlClient::find_mount(o.mountpoint);
  if (!mount.is_ok()) return fail(mount.status().message());
  const std::string volume_dir = mount->volume_dir;
  if (o.now) return publish_now(volume_dir);
  auto secret = FeedSecret::load(o.secret);
  if (!secret.is_ok()) return fail(secret.status().message());
  std::error_code ec;
  std::filesystem::create_directories(LabPublisher::state_dir(volume_dir), ec);
  auto lock = PidLock::take(publisher_lock(volume_dir));
  if (!lock.is_ok()) {
    if (lock.status().err() != EBUSY) return fail(lock.status().message());
    const int holder = PidLock::holder(publisher_lock(volume_dir));
    return fail("a publisher already runs for " + volume_dir +
                (holder > 0 ? " (pid " + std::to_string(holder) + "); ask it with --now" : ""));
  }
  install_handlers();
  LabPublisher pub(o, volume_dir, std::move(secret).value());
  if (Status st = pub.start(); !st.is_ok()) return fail(st.message());
  if (o.json) {
    std::printf("%s\n", json{{"event", "feed"}, {"endpoint", pub.feed_endpoint()}}.dump().c_str());
    std::fflush(stdout);
  } else {
    std::fprintf(stderr, "publishing %s: feed at http://%s/feed\n", o.mountpoint.c_str(),
                 pub.feed_endpoint().c_str());
  }
  // Publish at start unless a snapshot is already published and not due.
  bool due = !pub.has_published();
  int exit_code = 0;
  while (!g_signals.stop) {
    if (g_publish_now) {
      g_publish_now = 0;
      due = true;
    }
    if (o.every > 0 && pub.has_published() && pub.seconds_since_publish() >= o.every) due = true;
    if (due) {
      due = false;
      auto e = pub.publish();
      if (e.is_ok()) {
        print_published(e.value(), o.json);
      } else {
        std::fprintf(stderr, "dynamicfs: publish: %s\n", e.status().message().c_str());
        pub.record_failure(e.status().message());
        if (o.json)
          std::printf("%s\n",
                      json{{"event", "error"}, {"message", e.status().message()}}.dump().c_str());
        if (!pub.has_published()) {
          exit_code = 1;
          break;
        }
      }
    }
    pub.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  pub.stop();
  ::close(lock.value());
  return exit_code;
}

int cmd_follow(const FollowOptions& o) {
  if (o.mode != "kiosk" && o.mode != "writable")
    return fail("--mode must be kiosk or writable, not '" + o.mode + "'");
  auto url = HttpUrl::parse(o.feed);
  if (!url.is_ok()) return fail(url.status().message());
  auto secret = FeedSecret::load(o.secret);
  if (!secret.is_ok()) return fail(secret.status().message());
  auto slots = FollowSlots::open(o.volume, /*create=*/true);
  if (!slots.is_ok()) return fail(slots.status().message());
  auto lock = FollowSlots::lock(slots->dir());
  if (!lock.is_ok()) return fail(lock.status().message());
  install_handlers();
  LabFollower follower(o, std::move(slots).value(), std::move(secret).value(), url.value(),
                       &g_signals);
  int rc = follower.run();
  ::close(lock.value());
  return rc;
}

int cmd_follow_rollback(const std::string& volume) {
  auto slots = FollowSlots::open(volume, /*create=*/false);
  if (!slots.is_ok()) return fail(slots.status().message());
  const std::string from = slots->state().current;
  Status st = slots->rollback();
  if (!st.is_ok()) return fail("cannot roll back: " + st.message());
  const FollowSlot& now = slots->state().slot(slots->state().current);
  std::printf(
      "rolled back %s to generation %llu (snapshot %s); generations up to %llu are "
      "not fetched again\n",
      slots->dir().c_str(), static_cast<unsigned long long>(now.generation), now.snapshot.c_str(),
      static_cast<unsigned long long>(slots->state().skip_through));
  int pid = FollowSlots::locker_pid(slots->dir());
  if (pid <= 0) {
    std::printf("no follower runs: mount %s/current to use it\n", slots->dir().c_str());
    return 0;
  }
  // The running follower remounts its mountpoint on the slot now current.
  if (::kill(pid, SIGHUP) != 0)
    return fail("cannot signal the follower (pid " + std::to_string(pid) + ")");
  for (int i = 0; i < 1200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto j = json::parse(read_small_file(slots->dir() + "/status.json"), nullptr, false);
    if (j.is_object() && j.contains("current") && j["current"].is_object() &&
        j["current"].value("slot", "") == slots->state().current &&
        j.value("updated_unix", 0.0) > unix_seconds() - 5) {
      std::printf("the follower (pid %d) now serves it (it was on slot %s)\n", pid, from.c_str());
      return 0;
    }
  }
  return fail("the follower (pid " + std::to_string(pid) +
              ") did not take the rollback within 2 minutes");
}

int cmd_follow_status(const std::string& volume, bool as_json) {
  auto slots = FollowSlots::open(volume, /*create=*/false);
  if (!slots.is_ok()) return fail(slots.status().message());
  const FollowState& s = slots->state();
  auto status = json::parse(read_small_file(slots->dir() + "/status.json"), nullptr, false);
  const int pid = FollowSlots::locker_pid(slots->dir());
  if (as_json) {
    json j = s.to_json();
    j["running"] = pid > 0;
    j["follower_pid"] = pid;
    j["status"] = status.is_object() ? status : json(nullptr);
    std::cout << j.dump() << std::endl;
    return 0;
  }
  std::printf("follower directory %s (feed %s)\n", slots->dir().c_str(), s.feed.c_str());
  std::printf("  follower: %s\n",
              pid > 0 ? ("running, pid " + std::to_string(pid)).c_str() : "not running");
  for (const char* name : {"a", "b"}) {
    const FollowSlot& x = s.slot(name);
    std::string what = x.complete
                           ? "generation " + std::to_string(x.generation) + " (" + x.snapshot + ")"
                       : x.fetching ? "receiving generation " + std::to_string(x.fetching)
                                    : "empty";
    std::printf("  slot %s: %s%s\n", name, what.c_str(), s.current == name ? "  <- current" : "");
  }
  if (s.skip_through > 0)
    std::printf("  rolled back: generations up to %llu are skipped\n",
                static_cast<unsigned long long>(s.skip_through));
  if (status.is_object() && pid > 0) {
    std::printf("  state: %s, newest published generation %llu\n",
                status.value("state", "?").c_str(),
                static_cast<unsigned long long>(status.value("latest_published", uint64_t{0})));
    if (status.contains("fetch") && status["fetch"].is_object()) {
      const json& f = status["fetch"];
      std::printf("  fetching generation %llu: %.0f%%, %s received%s\n",
                  static_cast<unsigned long long>(f.value("generation", uint64_t{0})),
                  100.0 * f.value("progress", 0.0),
                  MetricFormat::bytes(f.value("downloaded", 0.0)).c_str(),
                  f.value("resumed", false) ? " (resumed)" : "");
    }
    if (!status.value("last_error", "").empty())
      std::printf("  last error: %s\n", status.value("last_error", "").c_str());
  }
  return 0;
}

}  // namespace dynamicfs

namespace dynamicfs {

int cmd_lab_secret(const std::string& file) {
  Status st = FeedSecret::generate(file);
  if (!st.is_ok()) return fail(st.message());
  std::printf("wrote a new secret to %s (mode 0600); copy it to every follower the same way\n",
              file.c_str());
  return 0;
}

}  // namespace dynamicfs

// FollowSlots: the A/B slot state machine of a lab-sync follower and the
// local refill of one slot from the other.
#include "src/replication/follow_slots.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/common/file_sync.h"
#include "src/common/pid_lock.h"
#include "src/extent/volume_config.h"

namespace dynamicfs {

namespace fs = std::filesystem;

namespace {

nlohmann::json slot_json(const FollowSlot& s) {
  return {{"generation", s.generation},
          {"snapshot", s.snapshot},
          {"complete", s.complete},
          {"fetching", s.fetching},
          {"pristine", s.pristine}};
}

FollowSlot slot_from(const nlohmann::json& j) {
  FollowSlot s;
  s.generation = j.value("generation", uint64_t{0});
  s.snapshot = j.value("snapshot", "");
  s.complete = j.value("complete", false);
  s.fetching = j.value("fetching", uint64_t{0});
  s.pristine = j.value("pristine", false);
  return s;
}

// Copies the data of FROM into a new file TO of the same size, skipping
// holes (copy_file_range keeps the copy in the kernel).
Status copy_sparse(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::from_errno("cannot open " + from);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return Status::error(err, "cannot create " + to);
  }
  Status st = Status::ok();
  off_t size = ::lseek(in, 0, SEEK_END);
  if (size < 0 || ::ftruncate(out, size) != 0) st = Status::from_errno("cannot size " + to);
  off_t pos = 0;
  while (st.is_ok() && pos < size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0) {
      if (errno != ENXIO) st = Status::from_errno("cannot seek in " + from);
      break;  // ENXIO: only a hole is left
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) hole = size;
    off_t src = data, dst = data;
    while (src < hole) {
      ssize_t n = ::copy_file_range(in, &src, out, &dst, static_cast<size_t>(hole - src), 0);
      if (n <= 0) {
        st = n == 0 ? Status::error(EIO, from + " ended early")
                    : Status::from_errno("cannot copy " + from + " to " + to);
        break;
      }
    }
    pos = hole;
  }
  if (st.is_ok() && ::fsync(out) != 0) st = Status::from_errno("cannot sync " + to);
  ::close(in);
  ::close(out);
  return st;
}

}  // namespace

nlohmann::json FollowState::to_json() const {
  return {{"format", FollowSlots::kFormat},
          {"volume_uuid", volume_uuid},
          {"feed", feed},
          {"current", current},
          {"skip_through", skip_through},
          {"slots", {{"a", slot_json(a)}, {"b", slot_json(b)}}}};
}

Result<FollowState> FollowState::from_json(const nlohmann::json& j) {
  try {
    return from_json_checked(j);
  } catch (const nlohmann::json::exception& e) {
    return Status::error(EBADMSG, std::string("malformed: ") + e.what());
  }
}

Result<FollowState> FollowState::from_json_checked(const nlohmann::json& j) {
  if (!j.is_object() || j.value("format", "") != FollowSlots::kFormat)
    return Status::error(EBADMSG, std::string("not in format ") + FollowSlots::kFormat);
  FollowState s;
  s.volume_uuid = j.value("volume_uuid", "");
  s.feed = j.value("feed", "");
  s.current = j.value("current", "");
  s.skip_through = j.value("skip_through", uint64_t{0});
  if (s.current != "" && s.current != "a" && s.current != "b")
    return Status::error(EBADMSG, "unknown current slot '" + s.current + "'");
  if (j.contains("slots") && j["slots"].is_object()) {
    if (j["slots"].contains("a")) s.a = slot_from(j["slots"]["a"]);
    if (j["slots"].contains("b")) s.b = slot_from(j["slots"]["b"]);
  }
  return s;
}

Result<FollowSlots> FollowSlots::open(const std::string& dir, bool create) {
  std::error_code ec;
  FollowSlots f(fs::absolute(dir, ec).lexically_normal().string());
  if (!f.m_dir.empty() && f.m_dir.size() > 1 && f.m_dir.back() == '/') f.m_dir.pop_back();
  const std::string state = f.m_dir + "/follow.json";
  if (fs::exists(state, ec)) {
    DFS_RETURN_IF_ERROR(f.reload());
    return f;
  }
  if (!create)
    return Status::error(ENOENT, f.m_dir + " is not a follower directory (no follow.json)");
  if (fs::exists(f.m_dir, ec) && !fs::is_empty(f.m_dir, ec)) {
    return Status::error(ENOTEMPTY, f.m_dir +
                                        " is not empty and is not a follower directory (no "
                                        "follow.json); give an empty or new directory");
  }
  for (const char* s : {"a", "b"}) {
    fs::create_directories(f.slot_dir(s), ec);
    if (ec)
      return Status::error(ec.value(), "cannot create " + f.slot_dir(s) + ": " + ec.message());
  }
  DFS_RETURN_IF_ERROR(f.save());
  return f;
}

bool FollowSlots::is_slot(const std::string& volume_dir, std::string* follow_dir) {
  fs::path p = fs::path(volume_dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  if (name != "a" && name != "b") return false;
  fs::path slots = p.parent_path();
  if (slots.filename() != "slots") return false;
  std::error_code ec;
  if (!fs::exists(slots.parent_path() / "follow.json", ec)) return false;
  if (follow_dir) *follow_dir = slots.parent_path().string();
  return true;
}

nlohmann::json FollowSlots::lab_sync_status(const std::string& volume_dir) {
  // Called by a mounted daemon: whatever is in the files, nothing throws.
  try {
    return lab_sync_status_unchecked(volume_dir);
  } catch (const std::exception&) {
    return nullptr;
  }
}

nlohmann::json FollowSlots::lab_sync_status_unchecked(const std::string& volume_dir) {
  std::string follow_dir;
  if (!is_slot(volume_dir, &follow_dir)) return nullptr;
  auto slots = open(follow_dir, /*create=*/false);
  if (!slots.is_ok()) return nullptr;
  const std::string slot = fs::path(volume_dir).lexically_normal().filename().string();
  const FollowState& st = slots->state();
  const FollowSlot& mine = st.slot(slot);
  std::ifstream in(follow_dir + "/status.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto status = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!status.is_object()) status = nullptr;
  const int pid = locker_pid(follow_dir);
  nlohmann::json j = {{"follower_dir", follow_dir},
                      {"feed", st.feed},
                      {"slot", slot},
                      {"current", st.current == slot},
                      {"generation", mine.complete ? mine.generation : 0},
                      {"snapshot", mine.snapshot},
                      {"follower_running", pid > 0}};
  if (pid > 0 && status.is_object()) {
    for (const char* k : {"state", "latest_published", "fetch", "switches", "received_bytes",
                          "errors", "last_error"})
      if (status.contains(k)) j[k] = status[k];
  }
  return j;
}

Result<int> FollowSlots::lock(const std::string& dir) {
  auto fd = PidLock::take(dir + "/follow.lock");
  if (fd.is_ok() || fd.status().err() != EBUSY) return fd;
  const int pid = locker_pid(dir);
  return Status::error(EBUSY, "a follower already runs on " + dir +
                                  (pid > 0 ? " (pid " + std::to_string(pid) + ")" : ""));
}

int FollowSlots::locker_pid(const std::string& dir) {
  return std::max(0, PidLock::holder(dir + "/follow.lock"));
}

std::string FollowSlots::current_dir() const {
  return m_state.current.empty() ? "" : slot_dir(m_state.current);
}

Status FollowSlots::reload() {
  const std::string path = m_dir + "/follow.json";
  std::ifstream in(path);
  if (!in) return Status::from_errno("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  auto st = FollowState::from_json(j);
  if (!st.is_ok()) return Status::error(st.status().err(), path + ": " + st.status().message());
  m_state = std::move(st).value();
  return Status::ok();
}

Status FollowSlots::save() const {
  return write_file_atomically(m_dir + "/follow.json", m_state.to_json().dump(2) + "\n");
}

Status FollowSlots::point_current_link() const {
  const std::string link = m_dir + "/current";
  const std::string tmp = link + ".tmp";
  ::unlink(tmp.c_str());
  if (::symlink(("slots/" + m_state.current).c_str(), tmp.c_str()) != 0)
    return Status::from_errno("cannot make " + tmp);
  if (::rename(tmp.c_str(), link.c_str()) != 0) return Status::from_errno("cannot rename " + tmp);
  return sync_path(m_dir, true);
}

Result<int> FollowSlots::lock_state() {
  const std::string path = m_dir + "/state.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::from_errno("cannot open " + path);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return Status::error(err, "cannot lock " + path);
  }
  Status st = reload();
  if (!st.is_ok()) {
    ::close(fd);
    return st;
  }
  return fd;
}

Result<std::string> FollowSlots::begin_fetch(uint64_t generation, const std::string& snapshot,
                                             const std::string& volume_uuid,
                                             const std::string& expect_current, Fill fill,
                                             bool* resumed) {
  DFS_ASSIGN_OR_RETURN(int lock_fd, lock_state());
  if (m_state.current != expect_current) {
    ::close(lock_fd);
    return Status::error(EAGAIN, "the current slot changed (a rollback); planning again");
  }
  const std::string target = m_state.current.empty() ? "a" : other(m_state.current);
  FollowSlot& s = m_state.slot(target);
  std::error_code ec;
  *resumed = s.fetching == generation && !s.complete &&
             fs::exists(VolumeConfig::file_path(slot_dir(target)), ec);
  if (s.fetching == generation && !s.complete && !*resumed) fill = Fill::kClear;
  if (m_state.volume_uuid.empty()) m_state.volume_uuid = volume_uuid;
  // Incomplete before a byte of it changes: never rolled back to from here on.
  s.complete = false;
  s.pristine = false;
  s.fetching = generation;
  s.generation = 0;
  s.snapshot = snapshot;
  Status saved = save();
  ::close(lock_fd);
  DFS_RETURN_IF_ERROR(saved);
  if (*resumed || fill == Fill::kKeep) return target;
  if (fill == Fill::kRefill && !m_state.current.empty()) {
    DFS_RETURN_IF_ERROR(copy_volume(current_dir(), slot_dir(target)));
  } else {
    fs::remove_all(slot_dir(target), ec);
    fs::create_directories(slot_dir(target), ec);
    if (ec) return Status::error(ec.value(), "cannot empty " + slot_dir(target));
  }
  return target;
}

Status FollowSlots::finish_fetch(const std::string& slot) {
  DFS_ASSIGN_OR_RETURN(int lock_fd, lock_state());
  FollowSlot& s = m_state.slot(slot);
  s.generation = s.fetching;
  s.fetching = 0;
  s.complete = true;
  s.pristine = true;
  m_state.current = slot;
  Status st = save();
  if (st.is_ok()) st = point_current_link();
  ::close(lock_fd);
  return st;
}

Status FollowSlots::repair_current_link() {
  if (m_state.current.empty()) return Status::ok();
  std::error_code ec;
  if (fs::read_symlink(m_dir + "/current", ec) == fs::path("slots/" + m_state.current))
    return Status::ok();
  return point_current_link();
}

Status FollowSlots::mark_written(const std::string& slot) {
  DFS_ASSIGN_OR_RETURN(int lock_fd, lock_state());
  Status st = Status::ok();
  if (m_state.slot(slot).pristine) {
    m_state.slot(slot).pristine = false;
    st = save();
  }
  ::close(lock_fd);
  return st;
}

Status FollowSlots::set_feed(const std::string& feed) {
  DFS_ASSIGN_OR_RETURN(int lock_fd, lock_state());
  m_state.feed = feed;
  Status st = save();
  ::close(lock_fd);
  return st;
}

Status FollowSlots::rollback() {
  DFS_ASSIGN_OR_RETURN(int lock_fd, lock_state());
  Status st = rollback_locked();
  ::close(lock_fd);
  return st;
}

Status FollowSlots::rollback_locked() {
  if (m_state.current.empty())
    return Status::error(EAGAIN, "no snapshot has been fetched into " + m_dir + " yet");
  const std::string back = other(m_state.current);
  const FollowSlot& b = m_state.slot(back);
  if (!b.complete) {
    return Status::error(
        EAGAIN, b.fetching ? "the previous snapshot's slot is being refilled with generation " +
                                 std::to_string(b.fetching) + "; nothing to roll back to"
                           : "there is no previous snapshot to roll back to");
  }
  m_state.skip_through = std::max(m_state.skip_through, m_state.slot(m_state.current).generation);
  m_state.current = back;
  DFS_RETURN_IF_ERROR(save());
  return point_current_link();
}

Status FollowSlots::copy_volume(const std::string& from, const std::string& to) {
  DFS_ASSIGN_OR_RETURN(VolumeConfig cfg, VolumeConfig::load(from));
  std::error_code ec;
  fs::remove_all(to, ec);
  fs::create_directories(to + "/.incoming", ec);
  if (ec) return Status::error(ec.value(), "cannot make " + to + ": " + ec.message());
  for (auto& d : cfg.disks) {
    if (d.removed || d.path.empty()) continue;
    const std::string copy = to + "/" + fs::path(d.path).filename().string();
    DFS_RETURN_IF_ERROR(copy_sparse(d.path, copy));
    d.path = copy;
  }
  // The metadata pack: its unchanged tables keep their offsets only by
  // luck, but what matches is not sent again.
  const std::string pack = from + "/.incoming/meta.pack";
  if (fs::exists(pack, ec)) DFS_RETURN_IF_ERROR(copy_sparse(pack, to + "/.incoming/meta.pack"));
  DFS_RETURN_IF_ERROR(cfg.save(to));
  return sync_path(to, true);
}

}  // namespace dynamicfs

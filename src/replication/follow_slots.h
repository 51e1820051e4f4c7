// FollowSlots: the directory a lab-sync follower keeps a volume in. It
// holds two complete volume directories, slots/a and slots/b (A/B, as
// appliances update themselves): the current one is mounted and served,
// the other receives the next published snapshot. The other slot is first
// refilled from the current one, so the fetch transfers only the pieces
// that differ; the switch is one atomic rewrite of follow.json once every
// piece is verified and the metadata is in place. Until the next fetch
// starts, the slot switched away from stays complete, and rollback() makes
// it current again.
//
//   DIR/follow.json   state (format below), rewritten atomically
//   DIR/follow.lock   flock held by the running follower
//   DIR/status.json   the follower's progress, rewritten every second
//   DIR/current       symlink to the current slot, for `mount --volume`
//   DIR/slots/{a,b}/  volume directories (volume.toml, diskN.img, meta/)
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "src/common/result.h"

namespace dynamicfs {

struct FollowSlot {
  uint64_t generation = 0;  // of the snapshot it holds when complete
  std::string snapshot;
  bool complete = false;
  uint64_t fetching = 0;  // generation being fetched into it, 0 if none
  // Holds exactly its generation's image (fetched and verified, and not
  // mounted read-write since): its torrent tells what it holds.
  bool pristine = false;
};

struct FollowState {
  std::string volume_uuid;  // of the publisher's volume, once known
  std::string feed;
  std::string current;        // "a", "b" or "" before the first snapshot
  uint64_t skip_through = 0;  // rolled back: generations up to this are not fetched again
  FollowSlot a, b;

  FollowSlot& slot(const std::string& name) { return name == "a" ? a : b; }
  // The generation of the current slot, 0 before the first.
  uint64_t current_generation() const { return current.empty() ? 0 : slot(current).generation; }
  const FollowSlot& slot(const std::string& name) const { return name == "a" ? a : b; }
  nlohmann::json to_json() const;
  static Result<FollowState> from_json(const nlohmann::json& j);

 private:
  static Result<FollowState> from_json_checked(const nlohmann::json& j);
};

class FollowSlots {
 public:
  static constexpr const char* kFormat = "dynamicfs-follow-1";

  // Opens the follower directory DIR; with CREATE makes it when missing or
  // empty. A directory holding anything else is refused (ENOTEMPTY).
  static Result<FollowSlots> open(const std::string& dir, bool create);
  // Whether VOLUME_DIR is a slot of a follower directory; *follow_dir set.
  static bool is_slot(const std::string& volume_dir, std::string* follow_dir);
  // For a mount of a slot (`status`, metrics): the follower's state as it
  // concerns VOLUME_DIR, or null when VOLUME_DIR is not a slot. Fields:
  // follower_dir, slot, current (bool), generation, snapshot, state,
  // follower_running, latest_published, fetch, switches, received_bytes,
  // errors, last_error.
  static nlohmann::json lab_sync_status(const std::string& volume_dir);
  // Holds follow.lock (one follower per directory): EBUSY naming the pid
  // of the follower holding it. Released when the returned fd is closed.
  static Result<int> lock(const std::string& dir);
  // The pid of the follower holding DIR's lock, 0 if none.
  static int locker_pid(const std::string& dir);

  const std::string& dir() const { return m_dir; }
  FollowState& state() { return m_state; }
  const FollowState& state() const { return m_state; }
  std::string slot_dir(const std::string& name) const { return m_dir + "/slots/" + name; }
  std::string current_dir() const;  // "" before the first snapshot
  static std::string other(const std::string& name) { return name == "a" ? "b" : "a"; }
  Status reload();
  // Records the feed URL followed (for status).
  Status set_feed(const std::string& feed);

  // What begin_fetch does to the spare slot's contents.
  enum class Fill {
    kKeep,    // as they are (the caller copies what it needs: PieceReuse)
    kRefill,  // a copy of the current slot
    kClear,   // nothing (a fresh fetch)
  };
  // Starts (or resumes) fetching GENERATION into the slot that is not
  // current; returns that slot. EAGAIN when the current slot is no longer
  // EXPECT_CURRENT (a rollback came in between: plan again). The slot is
  // marked incomplete first (so it is never rolled back to). Unless it
  // already holds part of the same generation (*resumed), FILL is applied.
  // A partial fetch that never got as far as a volume.toml is not resumed
  // but cleared. VOLUME_UUID is recorded the first time (the feed's).
  Result<std::string> begin_fetch(uint64_t generation, const std::string& snapshot,
                                  const std::string& volume_uuid, const std::string& expect_current,
                                  Fill fill, bool* resumed);
  // Points DIR/current at the current slot again (a crash between the
  // state write and the link's rename leaves it on the other one).
  Status repair_current_link();
  // SLOT is about to be mounted read-write: it stops being pristine.
  Status mark_written(const std::string& slot);
  // Every piece of SLOT is verified and its metadata in place: it becomes
  // current (one atomic state write), the other slot stays as it was.
  Status finish_fetch(const std::string& slot);
  // Makes the other slot current again; EAGAIN when it is not complete
  // (never filled, or being refilled for a newer snapshot).
  Status rollback();

  // Copies a volume directory's disks (sparse: only their data), its packed
  // metadata and a volume.toml naming the copies; TO is emptied first.
  static Status copy_volume(const std::string& from, const std::string& to);

 private:
  explicit FollowSlots(std::string dir) : m_dir(std::move(dir)) {}
  Status save() const;
  Status point_current_link() const;
  // Every change of follow.json holds DIR/state.lock (a follower and a
  // `rollback` may both change it) and starts from the file's contents.
  Result<int> lock_state();
  Status rollback_locked();
  static nlohmann::json lab_sync_status_unchecked(const std::string& volume_dir);

  std::string m_dir;
  FollowState m_state;
};

}  // namespace dynamicfs

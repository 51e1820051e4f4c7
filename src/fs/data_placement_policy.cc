// DataPlacement data policies: replicated or erasure coded, per file and
// directory (`dynamicfs policy`). The policy is a hidden xattr; new files
// and directories take their directory's at create. Setting a policy on a
// directory sets it on everything below and queues the files for the
// converter, a background job that rewrites each extent not laid out as
// its file's policy says: read verified, written at Background priority,
// swapped under the range lock only if the record is unchanged (like a
// relocation, so readers never see different bytes and need no retry).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <unordered_set>

#include "metadata/key_codec.h"
#include "src/extent/block_buffer.h"
#include "src/extent/extent_space.h"
#include "src/extent/pending_space.h"
#include "src/fs/data_placement.h"

namespace dynamicfs {

DataPlacement::DataPlacement(Volume& volume, Allocator& alloc, GroupCommitCoordinator& commit,
                             ExtentLockManager& locks, ReaderTracker& readers, ReplicaIo& replicas,
                             InodeStore& inodes, FileData& data, Namespace& names, Tiering& tiering,
                             BackgroundScheduler& jobs, SyncAll sync_all)
    : m_volume(volume),
      m_alloc(alloc),
      m_commit(commit),
      m_locks(locks),
      m_readers(readers),
      m_replicas(replicas),
      m_inodes(inodes),
      m_data(data),
      m_namespace(names),
      m_tiering(tiering),
      m_jobs(jobs),
      m_sync_all(std::move(sync_all)) {}

void DataPlacement::start_convert_job() {
  BackgroundScheduler::Job convert;
  convert.name = "convert";
  convert.pass = [this] { run_conversions(); };
  convert.finish = [this] {
    // Files still queued keep their layout until their policy is set
    // again (conversion does not resume across mounts); nobody waits now.
    m_convert_queue.close();
    while (m_convert_queue.take()) m_convert_queue.done();
  };
  m_convert_job = m_jobs.start(std::move(convert));
}

bool DataPlacement::extent_matches(const ExtentRecord& e, const DataPolicy& policy) const {
  if (e.is_ec()) return policy.is_ec() && e.ec_k == policy.ec.k && e.ec_m == policy.ec.m;
  // Replicated data that the policy would code, with enough disks to do so.
  if (policy.codes(e.blocks()) && m_volume.writable_count() >= policy.ec.units()) return false;
  const size_t want =
      std::min<size_t>(policy.copies(m_volume.replicas()), m_volume.writable_count());
  return e.copies.size() >= want && (policy.is_ec() || e.copies.size() == want);
}

Result<PolicyChange> DataPlacement::set_policy(uint64_t ino, const DataPolicy& policy) {
  DFS_RETURN_IF_ERROR(check_writable(m_volume.read_only()));
  DFS_ASSIGN_OR_RETURN(auto root, m_inodes.load(ino));
  if (!root.is_dir() && !root.is_reg())
    return Status::error(EINVAL, "a data policy applies to files and directories only");
  PolicyChange change;
  std::vector<uint64_t> files;
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> todo{ino};
  // Each node under its inode lock, committed before a directory is listed:
  // a file created in it afterwards inherits the new policy, and a node
  // deleted meanwhile gets no stray xattr. `false`: it is gone.
  auto mark = [&](uint64_t node) -> Result<bool> {
    auto guard = m_locks.lock_exclusive({node});
    auto rec = m_inodes.load(node);
    if (!rec.is_ok()) {
      if (rec.err() == ENOENT) return false;
      return rec.status();
    }
    rocksdb::WriteBatch b;
    m_inodes.put_policy(&b, node, policy);
    DFS_RETURN_IF_ERROR(m_commit.apply(&b));
    return true;
  };
  // Directories first, depth first (a stack); a file with several links once.
  if (root.is_reg()) {
    DFS_RETURN_IF_ERROR(mark(ino).status());
    files.push_back(ino);
  }
  while (root.is_dir() && !todo.empty()) {
    const uint64_t dir = todo.back();
    todo.pop_back();
    DFS_ASSIGN_OR_RETURN(auto m, mark(dir));
    if (!m) continue;  // removed meanwhile
    ++change.dirs;
    auto entries = m_namespace.list_dir(dir);
    if (!entries.is_ok()) {
      if (entries.err() == ENOENT) continue;  // removed meanwhile
      return entries.status();
    }
    for (const auto& d : entries.value()) {
      if (d.name == "." || d.name == "..") continue;
      if (d.type == S_IFDIR) {
        todo.push_back(d.ino);
      } else if (d.type == S_IFREG && seen.insert(d.ino).second) {
        DFS_ASSIGN_OR_RETURN(auto f, mark(d.ino));
        if (f) files.push_back(d.ino);
      }
    }
  }
  change.files = files.size();
  for (uint64_t f : files) {
    if (!m_convert_queue.push(f))
      return Status::error(
          ESHUTDOWN,
          "unmounting: the policy is set but its files keep their layout until it is set again");
  }
  m_jobs.wake(m_convert_job);
  spdlog::info("data policy of inode {} set to {}: {} directories, {} files to convert", ino,
               policy.to_string(), change.dirs, change.files);
  return change;
}

Status DataPlacement::rewrite_extent(std::string_view key, std::string_view value,
                                     const ExtentRecord& e, const DataPolicy& policy) {
  const uint64_t ino = KeyCodec::extent_key_ino(key), off = KeyCodec::extent_key_offset(key);
  PendingSpace space(m_alloc);
  std::vector<ExtentRecord> fresh;
  {
    ReaderTracker::Pin pin = m_readers.enter();
    DFS_ASSIGN_OR_RETURN(auto live, m_volume.meta().get(Cf::kExtents, std::string(key)));
    if (!live.has_value() || *live != value) return Status::ok();  // changed: nothing to do
    block_buffer::Ptr buf = block_buffer::make(e.length);
    DFS_RETURN_IF_ERROR(m_replicas.read(e, 0, e.blocks(), buf.get(), IoClass::kBackground, pin,
                                        ReadSite{ino, off}));
    DFS_RETURN_IF_ERROR(m_data.write_new_extents(buf.get(), e.length, e.generation, &fresh,
                                                 &space.ranges, policy, IoClass::kBackground));
  }
  // Copies meant to become a stripe that came out as copies again (no
  // contiguous room for a unit on enough disks): keep the old record rather
  // than rewrite the same layout on every pass.
  if (!e.is_ec() && policy.codes(e.blocks()) &&
      std::none_of(fresh.begin(), fresh.end(), [](const ExtentRecord& r) { return r.is_ec(); }))
    return Status::error(EAGAIN, "no room to code inode " + std::to_string(ino) + " now");
  DFS_ASSIGN_OR_RETURN(auto swapped, swap_extent(key, value, e.length, fresh, /*kept=*/0, &space));
  if (!swapped) return Status::ok();  // rewritten meanwhile
  std::vector<DiskRange> old;
  append_space(e, &old);
  m_data.release_space(old);
  m_converted_extents.fetch_add(1);
  m_converted_bytes.fetch_add(e.length);
  return Status::ok();
}

Status DataPlacement::convert_file(uint64_t ino) {
  DFS_ASSIGN_OR_RETURN(auto policy, m_inodes.data_policy(ino));
  // Collected first: the rewrites change this inode's records.
  DFS_ASSIGN_OR_RETURN(auto records, m_inodes.raw_extents(ino));
  for (const auto& [key, value] : records) {
    if (m_jobs.stopping()) return Status::error(ECANCELED, "unmounting");
    DFS_ASSIGN_OR_RETURN(auto e, ExtentRecord::decode(value));
    if (extent_matches(e, policy)) continue;
    Status st = rewrite_extent(key, value, e, policy);
    if (!st.is_ok() && st.err() != EAGAIN) return st;
  }
  return Status::ok();
}

ConvertStats DataPlacement::convert_stats() const {
  ConvertStats s;
  s.pending_files = m_convert_queue.pending();
  s.extents = m_converted_extents.load();
  s.bytes = m_converted_bytes.load();
  return s;
}

void DataPlacement::run_conversions() {
  while (!m_jobs.stopping()) {
    auto ino = m_convert_queue.take();
    if (!ino) return;
    Status st = convert_file(*ino);
    if (!st.is_ok() && st.err() != ENOENT && st.err() != ECANCELED)
      spdlog::error("converting inode {} to its data policy failed: {}", *ino, st.to_string());
    m_convert_queue.done();
  }
}

}  // namespace dynamicfs

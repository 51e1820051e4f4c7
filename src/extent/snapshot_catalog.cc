// SnapshotCatalog: the snapshot directories, their info files and locks.
#include "src/extent/snapshot_catalog.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "metadata/meta_store.h"
#include "src/common/file_sync.h"
#include "src/extent/space_checkpoint.h"

namespace dynamicfs {

namespace {

namespace fs = std::filesystem;

constexpr const char* kInfoFile = "snapshot.json";
constexpr const char* kTmpPrefix = ".tmp-";
constexpr const char* kDeletingPrefix = ".deleting-";

Result<SnapshotInfo> read_info(const std::string& dir, const std::string& name) {
  std::ifstream in(dir + "/" + kInfoFile);
  if (!in) return Status::error(EUCLEAN, "snapshot " + name + " has no readable " + kInfoFile);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_number_unsigned() ||
      !j.contains("created_ns") || !j["created_ns"].is_number_integer()) {
    return Status::error(EUCLEAN, "snapshot " + name + ": malformed " + kInfoFile);
  }
  SnapshotInfo info;
  info.name = name;
  info.id = j["id"].get<uint64_t>();
  info.created_ns = j["created_ns"].get<int64_t>();
  return info;
}

}  // namespace

SnapshotHold::~SnapshotHold() {
  if (m_fd >= 0) ::close(m_fd);
}

Status SnapshotCatalog::check_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return Status::ok();
  return Status::error(EINVAL, "invalid snapshot name '" + name +
                                   "': use 1 to 64 letters, digits, '.', '_' or '-', not "
                                   "starting with '.'");
}

Result<std::vector<SnapshotInfo>> SnapshotCatalog::list(const std::string& volume_dir) {
  std::vector<SnapshotInfo> out;
  std::error_code ec;
  fs::directory_iterator it(root(volume_dir), ec);
  if (ec == std::errc::no_such_file_or_directory) return out;
  if (ec) return Status::error(ec.value(), "cannot list " + root(volume_dir) + ": " + ec.message());
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory()) continue;
    DFS_ASSIGN_OR_RETURN(auto info, read_info(entry.path().string(), name));
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.id < b.id; });
  return out;
}

Result<SnapshotInfo> SnapshotCatalog::find(const std::string& volume_dir, const std::string& name) {
  DFS_RETURN_IF_ERROR(check_name(name));
  std::string d = dir(volume_dir, name);
  if (::access(d.c_str(), F_OK) != 0) {
    return Status::error(ENOENT, "no snapshot named " + name + " in volume " + volume_dir);
  }
  return read_info(d, name);
}

Result<uint64_t> SnapshotCatalog::next_id(const std::string& volume_dir) {
  DFS_ASSIGN_OR_RETURN(auto all, list(volume_dir));
  return all.empty() ? 1 : all.back().id + 1;
}

Result<std::string> SnapshotCatalog::begin_create(const std::string& volume_dir,
                                                  const std::string& name) {
  DFS_RETURN_IF_ERROR(check_name(name));
  std::error_code ec;
  fs::create_directories(root(volume_dir), ec);
  if (ec) return Status::error(ec.value(), "cannot create " + root(volume_dir));
  if (::access(dir(volume_dir, name).c_str(), F_OK) == 0)
    return Status::error(EEXIST, "snapshot " + name + " already exists");
  std::string tmp = root(volume_dir) + "/" + kTmpPrefix + name;
  fs::remove_all(tmp, ec);  // left by a create that failed
  if (::mkdir(tmp.c_str(), 0700) != 0) return Status::from_errno("cannot create " + tmp);
  return tmp;
}

Status SnapshotCatalog::finish_create(const std::string& volume_dir, const std::string& tmp_dir,
                                      const SnapshotInfo& info) {
  std::string info_path = tmp_dir + "/" + kInfoFile;
  {
    std::ofstream out(info_path, std::ios::trunc);
    out << nlohmann::json{{"name", info.name}, {"id", info.id}, {"created_ns", info.created_ns}}
               .dump()
        << "\n";
    out.flush();
    if (!out) return Status::error(EIO, "cannot write " + info_path);
  }
  DFS_RETURN_IF_ERROR(sync_path(info_path, false));
  DFS_RETURN_IF_ERROR(sync_path(meta_dir(tmp_dir), true));
  DFS_RETURN_IF_ERROR(sync_path(tmp_dir, true));
  std::string final_dir = dir(volume_dir, info.name);
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) != 0)
    return Status::from_errno("cannot rename " + tmp_dir + " to " + final_dir);
  return sync_path(root(volume_dir), true);
}

Result<std::string> SnapshotCatalog::begin_delete(const std::string& volume_dir,
                                                  const std::string& name) {
  DFS_RETURN_IF_ERROR(find(volume_dir, name).status());
  std::string d = dir(volume_dir, name);
  int fd = ::open((d + "/" + kInfoFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("cannot open snapshot " + name);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::error(EBUSY, "snapshot " + name +
                                      " is in use (mounted read-only or being seeded); unmount "
                                      "or stop it first");
    }
    return Status::error(err, "cannot lock snapshot " + name);
  }
  std::string gone = root(volume_dir) + "/" + kDeletingPrefix + name;
  int rc = ::rename(d.c_str(), gone.c_str());
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::error(err, "cannot rename " + d + " to " + gone);
  DFS_RETURN_IF_ERROR(sync_path(root(volume_dir), true));
  return gone;
}

Status SnapshotCatalog::remove_tree(const std::string& d) {
  std::error_code ec;
  fs::remove_all(d, ec);
  if (ec) return Status::error(ec.value(), "cannot remove " + d + ": " + ec.message());
  return Status::ok();
}

Status SnapshotCatalog::clean_partial(const std::string& volume_dir, bool* found) {
  *found = false;
  std::error_code ec;
  fs::directory_iterator it(root(volume_dir), ec);
  if (ec == std::errc::no_such_file_or_directory) return Status::ok();
  if (ec) return Status::error(ec.value(), "cannot list " + root(volume_dir));
  std::vector<std::string> stale;
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(kTmpPrefix) || name.starts_with(kDeletingPrefix))
      stale.push_back(entry.path().string());
  }
  for (const auto& d : stale) {
    *found = true;
    DFS_RETURN_IF_ERROR(remove_tree(d));
  }
  return Status::ok();
}

Result<std::unique_ptr<SnapshotHold>> SnapshotCatalog::hold(const std::string& volume_dir,
                                                            const std::string& name) {
  DFS_RETURN_IF_ERROR(find(volume_dir, name).status());
  std::string path = dir(volume_dir, name) + "/" + kInfoFile;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("cannot open snapshot " + name);
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    return Status::error(err == EWOULDBLOCK ? EBUSY : err,
                         "snapshot " + name + " is being deleted");
  }
  return std::make_unique<SnapshotHold>(fd);
}

Result<std::vector<DiskRange>> SnapshotCatalog::extent_refs(const std::string& volume_dir,
                                                            const std::string& name) {
  return extent_refs_in(meta_dir(volume_dir, name));
}

Result<std::vector<DiskRange>> SnapshotCatalog::extent_refs_in(const std::string& meta) {
  DFS_ASSIGN_OR_RETURN(auto store, MetaStore::open_read_only(meta));
  auto refs = extent_space(*store);
  if (!refs.is_ok())
    return Status::error(EUCLEAN, "snapshot metadata " + meta + ": " + refs.status().message());
  return refs;
}

}  // namespace dynamicfs

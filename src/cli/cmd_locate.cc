// `dynamicfs locate PATH...`: where a file's extents live (disk, offset and
// class of every copy), like filefrag(8) for a dynamicfs mount.
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "src/cli/commands.h"
#include "src/control/control_client.h"
#include "src/control/extent_map_view.h"

namespace dynamicfs {

std::string mount_root(const std::string& path, dev_t dev) {
  std::filesystem::path p = std::filesystem::absolute(path).lexically_normal();
  if (!std::filesystem::is_directory(p)) p = p.parent_path();
  while (p.has_parent_path() && p != p.root_path()) {
    struct stat st {};
    if (::stat(p.parent_path().c_str(), &st) != 0 || st.st_dev != dev) break;
    p = p.parent_path();
  }
  return p.string();
}

Result<PathTarget> connect_for_path(const std::string& path, bool dirs_too) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::error(errno, "cannot stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode) && !(dirs_too && S_ISDIR(st.st_mode)))
    return Status::error(EINVAL, path + (dirs_too ? " is not a regular file or a directory"
                                                  : " is not a regular file"));
  auto client = ControlClient::connect_mount(mount_root(path, st.st_dev));
  if (!client.is_ok()) return Status::error(client.err(), path + ": " + client.status().message());
  return PathTarget{std::move(client).value(), static_cast<uint64_t>(st.st_ino)};
}

int cmd_locate(const std::vector<std::string>& paths, bool as_json) {
  int rc = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& path : paths) {
    auto t = connect_for_path(path, /*dirs_too=*/false);
    if (!t.is_ok()) {
      rc = fail(t.status().message());
      continue;
    }
    auto r = t->client->call({{"op", "locate"}, {"ino", t->ino}}, ControlClient::kQuickTimeoutMs);
    if (!r.is_ok()) {
      rc = fail(path + ": " + r.status().message());
      continue;
    }
    const auto& extents = r.value()["extents"];
    if (as_json) {
      all.push_back({{"path", path}, {"extents", extents}});
      continue;
    }
    std::cout << ExtentMapView::render(path, extents);
  }
  if (as_json) std::cout << all.dump() << std::endl;
  return rc;
}

}  // namespace dynamicfs

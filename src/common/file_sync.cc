// sync_path: open, fsync, close, with the errno of whichever failed.
#include "src/common/file_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace dynamicfs {

Status sync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::from_errno("cannot open " + path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::error(err, "cannot sync " + path);
  return Status::ok();
}

}  // namespace dynamicfs

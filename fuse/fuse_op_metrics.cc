// FuseOpMetrics: the op names used as the `op` label.
#include "fuse/fuse_op_metrics.h"

namespace dynamicfs {

const char* fuse_op_name(FuseOp op) {
  static constexpr const char* kNames[kFuseOpCount] = {
      "lookup", "forget",    "getattr",        "setattr",     "readlink",   "mknod",
      "mkdir",  "symlink",   "link",           "unlink",      "rmdir",      "rename",
      "open",   "create",    "read",           "write",       "flush",      "release",
      "fsync",  "opendir",   "readdir",        "readdirplus", "releasedir", "fsyncdir",
      "statfs", "access",    "setxattr",       "getxattr",    "listxattr",  "removexattr",
      "lseek",  "fallocate", "copy_file_range"};
  size_t i = static_cast<size_t>(op);
  return i < kFuseOpCount ? kNames[i] : "unknown";
}

}  // namespace dynamicfs

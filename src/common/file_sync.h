// sync_path: fsync of a file or directory by name, for the few places that
// make a file or a rename durable (snapshots, volume images).
#pragma once

#include <string>

#include "src/common/status.h"

namespace dynamicfs {

// Opens PATH (a directory when `directory`) and fsyncs it.
Status sync_path(const std::string& path, bool directory);

}  // namespace dynamicfs

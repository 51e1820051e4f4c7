// sync_path: fsync of a file or directory by name, for the few places that
// make a file or a rename durable (snapshots, volume images), and the
// write-then-rename of small state files (torrents, lab-sync state).
#pragma once

#include <string>
#include <string_view>

#include "src/common/status.h"

namespace dynamicfs {

// Opens PATH (a directory when `directory`) and fsyncs it.
Status sync_path(const std::string& path, bool directory);

// The whole of a small file (state and status files); "" when it cannot be
// read.
std::string read_small_file(const std::string& path);

// Writes DATA to PATH.tmp, fsyncs it, renames it over PATH and syncs the
// directory: PATH then holds either the old or the new bytes, never a mix.
// Without DURABLE (a status file rewritten every second) nothing is synced:
// readers still never see a torn file, but a crash may keep the old one.
Status write_file_atomically(const std::string& path, std::string_view data, int mode = 0644,
                             bool durable = true);

}  // namespace dynamicfs

// A fresh volume in a temporary directory, shared by the unit tests that run
// a FileSystem: returns the directory; the volume is DIR/vol and its disks
// DIR/d0, DIR/d1, ... (two by default, one copy of each extent).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <string>

#include "src/fs/volume.h"

namespace dynamicfs::test_volume {

inline std::string make(const std::string& tag, uint64_t disk_size, size_t disks = 2,
                        uint32_t replicas = 1) {
  std::string tmpl = "/tmp/dfs-" + tag + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return tmpl;
  }
  FormatOptions f;
  f.volume_dir = tmpl + "/vol";
  for (size_t i = 0; i < disks; ++i) f.disks.push_back(tmpl + "/d" + std::to_string(i));
  f.replicas = replicas;
  f.create_size = disk_size;
  Status st = Volume::format(f);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return tmpl;
}

}  // namespace dynamicfs::test_volume

// A fresh volume in a temporary directory, shared by the unit tests that run
// a FileSystem: returns the directory; the volume is DIR/vol and its disks
// DIR/d0, DIR/d1, ... (two by default, one copy of each extent).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <string>

#include <memory>
#include <vector>

#include "src/fs/file_system.h"
#include "src/extent/volume.h"
#include "src/io/fault_plan.h"

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

// Opens the volume DIR/vol with a FaultPlan on every disk (appended to
// `plans`, one per disk in index order); null after a test failure.
inline std::unique_ptr<FileSystem> open_with_faults(const std::string& dir,
                                                    std::vector<std::shared_ptr<FaultPlan>>* plans) {
  auto vol = Volume::open(dir + "/vol");
  EXPECT_TRUE(vol.is_ok()) << vol.status().to_string();
  if (!vol.is_ok()) return nullptr;
  for (size_t i = 0; i < vol.value()->disk_count(); ++i)
    vol.value()->disk(i).set_fault_plan(plans->emplace_back(std::make_shared<FaultPlan>()));
  auto fs = FileSystem::open(std::move(vol).value());
  EXPECT_TRUE(fs.is_ok()) << fs.status().to_string();
  if (!fs.is_ok()) return nullptr;
  return std::move(fs).value();
}

// A new regular file NAME in the root holding DATA; returns its inode.
inline uint64_t file_with(FileSystem& fs, const std::string& name, const std::string& data) {
  auto f = fs.mknod(FileSystem::kRootIno, name, S_IFREG | 0644, 0, Caller{});
  EXPECT_TRUE(f.is_ok()) << f.status().to_string();
  if (!f.is_ok()) return 0;
  auto w = fs.write(f->ino, 0, data.data(), data.size());
  EXPECT_TRUE(w.is_ok()) << w.status().to_string();
  return f->ino;
}

// The whole content of INO.
inline Result<std::string> read_all(FileSystem& fs, uint64_t ino) {
  auto attr = fs.getattr(ino);
  if (!attr.is_ok()) return attr.status();
  std::string buf(attr->size, '\0');
  auto r = fs.read(ino, 0, buf.size(), buf.data());
  if (!r.is_ok()) return r.status();
  buf.resize(r.value());
  return buf;
}

}  // namespace dynamicfs::test_volume

// Operations of the model test on open file descriptors (open, read,
// write, ftruncate, fsync, fstat, close through a few numbered slots) and
// on extended attributes (get, set, list, remove with their flags and
// small buffers that provoke ERANGE). Each returns an Op that runs the same
// syscalls on both trees; paths, offsets and sizes come through ModelPicks.
#pragma once

#include <array>

#include "model_posix_ops.h"
#include "model_support.h"

namespace dynamicfs::model {

class FdXattrOps {
 public:
  FdXattrOps(Rng& rng, ModelPicks picks) : m_rng(rng), m_picks(std::move(picks)) {}

  Op setxattr();
  Op getxattr();
  Op listxattr();
  Op removexattr();

  Op open_fd();
  Op fd_write();
  Op fd_read();
  Op fd_ftruncate();
  Op fd_fsync();
  Op fd_fstat();
  Op fd_close();
  // Every slot is closed (the model closed the descriptors for a remount).
  void forget_fds() { m_open.fill(false); }

 private:
  int random_slot();
  // An open slot, or -1 if none is open.
  int random_open_slot();

  Rng& m_rng;
  ModelPicks m_picks;
  // Whether each slot is open (as the reference's outcome says).
  std::array<bool, kFdSlots> m_open{};
};

}  // namespace dynamicfs::model

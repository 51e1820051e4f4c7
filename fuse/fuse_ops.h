// The table of FUSE low-level op handlers.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>

namespace dynamicfs {

const fuse_lowlevel_ops& fuse_op_table();

}  // namespace dynamicfs

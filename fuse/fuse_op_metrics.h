// FuseOpMetrics: per-operation call, error and latency counts of the FUSE
// request handlers (fuse_ops_total, fuse_op_errors_total and
// fuse_op_latency_seconds). Handler threads update them without locks; the
// daemon's status and metrics output read them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "src/common/histogram.h"

namespace dynamicfs {

enum class FuseOp : uint8_t {
  kLookup,
  kForget,
  kGetattr,
  kSetattr,
  kReadlink,
  kMknod,
  kMkdir,
  kSymlink,
  kLink,
  kUnlink,
  kRmdir,
  kRename,
  kOpen,
  kCreate,
  kRead,
  kWrite,
  kFlush,
  kRelease,
  kFsync,
  kOpendir,
  kReaddir,
  kReaddirplus,
  kReleasedir,
  kFsyncdir,
  kStatfs,
  kAccess,
  kSetxattr,
  kGetxattr,
  kListxattr,
  kRemovexattr,
  kLseek,
  kFallocate,
  kCopyFileRange,
  kCount
};
constexpr size_t kFuseOpCount = static_cast<size_t>(FuseOp::kCount);

const char* fuse_op_name(FuseOp op);

class FuseOpMetrics {
 public:
  struct PerOp {
    std::atomic<uint64_t> calls{0};
    std::atomic<uint64_t> errors{0};
    Histogram latency;
  };

  void record(FuseOp op, uint64_t ns, bool error) {
    PerOp& p = m_ops[static_cast<size_t>(op)];
    p.calls.fetch_add(1, std::memory_order_relaxed);
    if (error) p.errors.fetch_add(1, std::memory_order_relaxed);
    p.latency.observe_ns(ns);
  }
  const PerOp& op(FuseOp op) const { return m_ops[static_cast<size_t>(op)]; }

 private:
  std::array<PerOp, kFuseOpCount> m_ops;
};

}  // namespace dynamicfs

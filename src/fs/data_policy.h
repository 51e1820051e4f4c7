// DataPolicy: how a file's data is made safe. Replicated with N copies, or
// erasure coded k+m (Reed-Solomon stripes over k+m distinct disks), where
// pieces too small to code well stay replicated with m+1 copies, the same
// number of disk losses survived. Kept as a hidden xattr on files and
// directories; a new node takes its directory's (InodeStore::inherit_policy).
#pragma once

#include <charconv>
#include <string>
#include <string_view>

#include "metadata/extent_record.h"
#include "src/common/erasure_code.h"
#include "src/common/result.h"

namespace dynamicfs {

struct DataPolicy {
  // A piece is coded when each unit would hold at least this many blocks.
  static constexpr uint32_t kMinUnitBlocks = 4;

  unsigned replicas = 0;  // copies of replicated data; 0 = the volume's count
  EcScheme ec;            // ec.k > 0: erasure coded

  bool is_ec() const { return ec.k > 0; }
  bool is_default() const { return !is_ec() && replicas == 0; }
  // Copies of replicated pieces under this policy.
  unsigned copies(unsigned volume_replicas) const {
    return is_ec() ? ec.m + 1 : (replicas > 0 ? replicas : volume_replicas);
  }
  // Whether a piece of `blocks` blocks is coded (given enough disks).
  bool codes(uint64_t blocks) const { return is_ec() && blocks >= uint64_t{ec.k} * kMinUnitBlocks; }
  // "ec 4+2", "replicas 2", or "default" (the stored form too).
  std::string to_string() const {
    if (is_ec()) return "ec " + ec.to_string();
    if (replicas > 0) return "replicas " + std::to_string(replicas);
    return "default";
  }
  // What the policy means on a volume of VOLUME_REPLICAS copies: "replicas
  // 2 (the volume's)", or for erasure coding the size below which pieces
  // stay replicated.
  std::string describe(unsigned volume_replicas) const {
    if (is_default()) return "replicas " + std::to_string(volume_replicas) + " (the volume's)";
    if (!is_ec()) return to_string();
    return to_string() + " (pieces under " +
           std::to_string(ec.k * kMinUnitBlocks * ExtentRecord::kBlock / 1024) + " KiB: replicas " +
           std::to_string(copies(volume_replicas)) + ")";
  }
  static Result<DataPolicy> parse(std::string_view text) {
    DataPolicy p;
    if (text == "default") return p;
    if (text.starts_with("ec ")) {
      auto s = EcScheme::parse(text.substr(3));
      if (!s.is_ok()) return s.status();
      if (s->units() > ExtentRecord::kMaxUnits)
        return Status::error(EINVAL, "erasure coding takes at most " +
                                         std::to_string(ExtentRecord::kMaxUnits) + " units");
      p.ec = s.value();
      return p;
    }
    if (text.starts_with("replicas ")) {
      const std::string_view n = text.substr(9);
      unsigned v = 0;
      auto [end, err] = std::from_chars(n.data(), n.data() + n.size(), v);
      if (err != std::errc() || end != n.data() + n.size() || v < 1 || v > ExtentRecord::kMaxCopies)
        return Status::error(EINVAL,
                             "replicas must be 1 to " + std::to_string(ExtentRecord::kMaxCopies));
      p.replicas = v;
      return p;
    }
    return Status::error(EINVAL, "unknown data policy '" + std::string(text) + "'");
  }
  bool operator==(const DataPolicy&) const = default;
};

}  // namespace dynamicfs

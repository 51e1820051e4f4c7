// `dynamicfs mkfs`: argument checks, then Volume::format.
#include <iostream>

#include "src/cli/commands.h"
#include "src/extent/volume.h"

namespace dynamicfs {

uint64_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (...) {
    return 0;
  }
  std::string unit = s.substr(pos);
  uint64_t mult = 1;
  if (unit == "" || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    mult = 1ull << 10;
  } else if (unit == "M" || unit == "MiB") {
    mult = 1ull << 20;
  } else if (unit == "G" || unit == "GiB") {
    mult = 1ull << 30;
  } else if (unit == "T" || unit == "TiB") {
    mult = 1ull << 40;
  } else {
    return 0;
  }
  return v * mult;
}

int fail(const std::string& message) {
  std::cerr << "dynamicfs: " << message << std::endl;
  return 1;
}

int cmd_mkfs(const MkfsOptions& o) {
  FormatOptions f;
  f.volume_dir = o.volume;
  f.disks = o.disks;
  f.force = o.force;
  if (o.classes.size() > o.disks.size())
    return fail("more --class values (" + std::to_string(o.classes.size()) + ") than disks (" +
                std::to_string(o.disks.size()) + ")");
  f.classes = o.classes;
  f.create_size = parse_size(o.size);
  if (f.create_size == 0) return fail("invalid --size '" + o.size + "' (use e.g. 8G, 512M)");
  // Default: one copy on one disk, two copies with two or more disks.
  f.replicas = o.replicas != 0 ? o.replicas : (o.disks.size() >= 2 ? 2 : 1);
  Status st = Volume::format(f);
  if (!st.is_ok()) return fail(st.message().empty() ? st.to_string() : st.message());
  std::cout << "created volume in " << o.volume << " over " << o.disks.size() << " disk(s), "
            << f.replicas << (f.replicas == 1 ? " copy" : " copies") << " of every extent"
            << std::endl;
  return 0;
}

}  // namespace dynamicfs

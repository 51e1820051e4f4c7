// read_space_checkpoint: decodes the free-range and shared-space records.
#include "src/extent/space_checkpoint.h"

#include "metadata/extent_record.h"
#include "metadata/key_codec.h"
#include "src/common/coding.h"
#include "src/extent/extent_space.h"

namespace dynamicfs {

Result<SpaceCheckpoint> read_space_checkpoint(const MetaStore& meta, size_t disk_count) {
  SpaceCheckpoint cp;
  auto it = meta.iterator(Cf::kAlloc);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    const char* v = it->value().data();
    if (KeyCodec::is_shared_key(k)) {
      // Shared space: u64 length, u32 references beyond the first.
      if (it->value().size() != 12) return Status::error(EUCLEAN, "malformed shared-space record");
      DiskRange r{KeyCodec::alloc_key_disk(k.substr(1)), KeyCodec::alloc_key_offset(k.substr(1)),
                  get_le<uint64_t>(v)};
      if (r.disk >= disk_count)
        return Status::error(EUCLEAN, "shared-space record for unknown disk");
      cp.shared.emplace_back(r, get_le<uint32_t>(v + 8));
      continue;
    }
    if (k.size() != 12 || it->value().size() != 8)
      return Status::error(EUCLEAN, "malformed free-space record");
    DiskRange r{KeyCodec::alloc_key_disk(k), KeyCodec::alloc_key_offset(k), get_le<uint64_t>(v)};
    if (r.disk >= disk_count) return Status::error(EUCLEAN, "free-space record for unknown disk");
    cp.free.push_back(r);
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "reading the space checkpoint"));
  return cp;
}

Result<std::vector<DiskRange>> extent_space(const MetaStore& meta) {
  auto it = meta.iterator(Cf::kExtents);
  std::vector<DiskRange> refs;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto ext = ExtentRecord::decode({it->value().data(), it->value().size()});
    if (!ext.is_ok()) {
      return Status::error(
          ext.err(),
          "extent of inode " +
              std::to_string(KeyCodec::extent_key_ino({it->key().data(), it->key().size()})) +
              ": " + ext.status().message());
    }
    append_space(ext.value(), &refs);
  }
  DFS_RETURN_IF_ERROR(status_from_rocksdb(it->status(), "scanning extents"));
  return refs;
}

}  // namespace dynamicfs

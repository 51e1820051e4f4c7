// JournalBlob: a small write's data carried in the metadata WAL next to the
// extent record that points at it, so that an fsync of small writes needs
// one sync (the WAL's) instead of a data disk sync and then a WAL sync.
//
// The blob rides in the same WriteBatch as the extent record (RocksDB
// PutLogData: written to the WAL, never to a memtable or table), so it is
// durable exactly when the record is. Its data is also written to the
// data disks as usual; the disks are synced later (background sync, before
// a memtable flush makes the WAL obsolete, at unmount). After a power cut,
// mount writes each blob's blocks back where the extent map still expects
// exactly those bytes (JournalReplay).
#pragma once

#include <rocksdb/slice.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metadata/extent_record.h"
#include "src/common/result.h"

namespace dynamicfs {

struct JournalBlob {
  static constexpr uint32_t kMagic = 0x4a534644;  // "DFSJ"
  static constexpr uint8_t kVersion = 1;

  std::vector<ExtentCopy> copies;  // where the bytes were written, each whole
  std::string_view data;           // block aligned; points into the decoded value

  // magic u32, version u8, copy count u8, (disk u32, offset u64) per copy,
  // length u32, the bytes (little endian).
  static std::string encode(const std::vector<ExtentCopy>& copies, const char* data,
                            uint32_t length);
  // True when `blob` starts like a journal blob (other log data is skipped).
  static bool is_journal(std::string_view blob);
  static Result<JournalBlob> decode(std::string_view blob);
};

}  // namespace dynamicfs

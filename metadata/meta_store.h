// MetaStore: the RocksDB database holding all metadata, one column family per
// kind of record. It owns the DB handle; writes go through the
// GroupCommitCoordinator, reads come from here: point reads of inodes,
// directory entries and xattrs from the RecordCache in front of RocksDB,
// which every write here keeps current.
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metadata/record_cache.h"
#include "src/common/result.h"

namespace dynamicfs {

enum class Cf : uint8_t { kInodes = 0, kDentries, kExtents, kXattrs, kAlloc, kVolume, kCount };

class MetaStore {
 public:
  ~MetaStore();
  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Opens DIR (created when `create` is set; refused if it exists then).
  static Result<std::unique_ptr<MetaStore>> open(const std::string& dir, bool create);
  // Opens DIR read-only, without taking its lock, so a tool can read the
  // metadata of a mounted volume: it sees the state as of the open (the WAL is
  // replayed in memory). Writes fail. Keep it open only briefly while a daemon
  // runs: that daemon may delete files the snapshot still refers to.
  static Result<std::unique_ptr<MetaStore>> open_read_only(const std::string& dir);

  Result<std::optional<std::string>> get(Cf cf, const std::string& key) const;
  std::unique_ptr<rocksdb::Iterator> iterator(Cf cf) const;
  // An iterator confined to [lower, upper): seeks never wander over the
  // tombstones of neighbouring (deleted) keys. The bounds must outlive it.
  std::unique_ptr<rocksdb::Iterator> bounded_iterator(Cf cf, const rocksdb::Slice* lower,
                                                      const rocksdb::Slice* upper) const;
  // Applies a batch directly (used outside the group-commit path: mkfs,
  // mount-time recovery, clean unmount).
  Status write(rocksdb::WriteBatch* batch, bool sync);
  // Makes every applied batch durable. Batches reach the WAL file only
  // here (manual WAL flush), so metadata is never on disk before the data
  // its caller synced first.
  Status sync_wal();
  // The same in two steps, so the write to the file can happen at a chosen
  // moment and the slow sync outside it: write_wal() moves every applied
  // batch from the WAL buffer to the file (no sync); sync_written_wal()
  // makes what earlier write_wal() calls wrote durable and nothing applied
  // since (RocksDB syncs the current WAL without flushing its buffer).
  Status write_wal();
  Status sync_written_wal();
  // Called by RocksDB's flush thread before it writes a memtable to disk, so
  // the owner can make the data that memtable points at durable first.
  void set_before_flush(std::function<void()> hook);
  // The journal blobs (JournalBlob) found in the WAL replayed when the store
  // was opened read-write, oldest first; empty after the first call.
  std::vector<std::string> take_journal();
  // Copies every mutation of `src` (and its log data) onto the end of `dst`.
  Status append(rocksdb::WriteBatch* dst, const rocksdb::WriteBatch& src) const;
  Status flush();
  // A consistent copy of the whole store in DIR (which must not exist):
  // memtables are flushed first, then the table files are hard-linked, so
  // it costs no copy of the data. Callers hold commits back meanwhile.
  Status checkpoint(const std::string& dir);

  rocksdb::DB* db() { return m_db.get(); }
  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return m_handles[static_cast<size_t>(cf)]; }
  const std::string& dir() const { return m_dir; }

  static const char* cf_name(Cf cf);

  // The block cache shared by all column families (a live setting).
  void set_block_cache_capacity(uint64_t bytes);
  uint64_t block_cache_capacity() const;
  uint64_t block_cache_usage() const;
  // A RocksDB integer property summed over the column families ("" if the
  // property is unknown), e.g. "rocksdb.cur-size-all-mem-tables".
  uint64_t property_sum(const std::string& name) const;

  static constexpr uint64_t kDefaultBlockCacheBytes = 64ull << 20;
  // Inodes, directory entries and xattrs kept in memory (RecordCache).
  static constexpr uint64_t kRecordCacheBytes = 32ull << 20;
  RecordCacheStats record_cache_stats() const;

 private:
  MetaStore() = default;
  Result<std::optional<std::string>> get_from_db(Cf cf, const std::string& key) const;
  static Result<std::unique_ptr<MetaStore>> open_impl(const std::string& dir, bool create,
                                                      bool read_only);
  struct FlushHook;
  struct JournalCollector;
  std::string m_dir;
  std::string m_open_key;  // this store's entry among the process's open stores
  std::shared_ptr<FlushHook> m_flush_hook;
  std::shared_ptr<JournalCollector> m_journal;  // read-write opens only
  bool m_read_only = false;
  std::shared_ptr<rocksdb::Cache> m_block_cache;
  std::unique_ptr<rocksdb::DB> m_db;
  std::vector<rocksdb::ColumnFamilyHandle*> m_handles;
  rocksdb::ColumnFamilyHandle* m_default = nullptr;
  std::unique_ptr<RecordCache> m_records;  // after m_handles: built from their ids
};

Status status_from_rocksdb(const rocksdb::Status& s, const std::string& what);

}  // namespace dynamicfs

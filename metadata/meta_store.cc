// MetaStore: RocksDB options and column-family plumbing.
#include "metadata/meta_store.h"

#include <fcntl.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/wal_filter.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <set>

#include "metadata/journal_blob.h"

namespace dynamicfs {

Status status_from_rocksdb(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::ok();
  int err = EIO;
  if (s.IsNoSpace()) err = ENOSPC;
  if (s.IsCorruption()) err = EUCLEAN;
  if (s.IsInvalidArgument()) err = EINVAL;
  return Status::error(err, what + ": " + s.ToString());
}

namespace {

// Read-write stores open in this process, by canonical path. RocksDB
// refuses a second open of one; fcntl cannot show a process its own locks,
// and probing the LOCK file here would drop them (closing any descriptor of
// a file releases the process's record locks on it).
std::mutex g_open_mutex;
std::set<std::string> g_open_dirs;

std::string canonical_dir(const std::string& dir) {
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(dir, ec);
  return ec ? dir : p.string();
}

// Whether another process holds RocksDB's LOCK file of DIR (RocksDB locks
// it with fcntl F_SETLK). Only called when this process does not hold it.
bool locked_by_another_process(const std::string& dir) {
  const int fd = ::open((dir + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  const bool held = ::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

}  // namespace

const char* MetaStore::cf_name(Cf cf) {
  switch (cf) {
    case Cf::kInodes:
      return "inodes";
    case Cf::kDentries:
      return "dentries";
    case Cf::kExtents:
      return "extents";
    case Cf::kXattrs:
      return "xattrs";
    case Cf::kAlloc:
      return "alloc";
    case Cf::kVolume:
      return "volume";
    default:
      return "?";
  }
}

MetaStore::~MetaStore() {
  if (m_db) {
    if (!m_read_only) (void)m_db->FlushWAL(/*sync=*/true);  // nothing applied is dropped
    for (auto* h : m_handles) m_db->DestroyColumnFamilyHandle(h);
    if (m_default != nullptr) m_db->DestroyColumnFamilyHandle(m_default);
    m_db->Close();
  }
  if (!m_open_key.empty()) {
    std::lock_guard lk(g_open_mutex);
    g_open_dirs.erase(m_open_key);
  }
}

Result<std::unique_ptr<MetaStore>> MetaStore::open(const std::string& dir, bool create) {
  return open_impl(dir, create, /*read_only=*/false);
}

Result<std::unique_ptr<MetaStore>> MetaStore::open_read_only(const std::string& dir) {
  return open_impl(dir, /*create=*/false, /*read_only=*/true);
}

// Keeps the journal blobs of every WAL record replayed at open, in WAL order
// (see take_journal).
struct MetaStore::JournalCollector : public rocksdb::WalFilter {
  struct Blobs : public rocksdb::WriteBatch::Handler {
    std::vector<std::string>* out = nullptr;
    void LogData(const rocksdb::Slice& blob) override {
      if (JournalBlob::is_journal({blob.data(), blob.size()})) out->push_back(blob.ToString());
    }
  };
  std::vector<std::string> blobs;
  WalProcessingOption LogRecordFound(unsigned long long /*log_number*/,
                                     const std::string& /*log_file_name*/,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* /*new_batch*/,
                                     bool* batch_changed) override {
    *batch_changed = false;
    Blobs h;
    h.out = &blobs;
    (void)batch.Iterate(&h);
    return WalProcessingOption::kContinueProcessing;
  }
  const char* Name() const override { return "dynamicfs-journal"; }
};

std::vector<std::string> MetaStore::take_journal() {
  if (!m_journal) return {};
  return std::move(m_journal->blobs);
}

// Runs the owner's hook before each memtable flush (see set_before_flush).
struct MetaStore::FlushHook : public rocksdb::EventListener {
  std::mutex mutex;
  std::function<void()> hook;
  void OnFlushBegin(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& /*info*/) override {
    std::lock_guard lk(mutex);
    if (hook) hook();
  }
};

void MetaStore::set_before_flush(std::function<void()> hook) {
  std::lock_guard lk(m_flush_hook->mutex);
  m_flush_hook->hook = std::move(hook);
}

Result<std::unique_ptr<MetaStore>> MetaStore::open_impl(const std::string& dir, bool create,
                                                        bool read_only) {
  // One read-write open of a store per process (see g_open_dirs); the
  // claim goes again unless the open succeeds.
  struct Claim {
    std::string key;
    bool kept = false;
    ~Claim() {
      if (key.empty() || kept) return;
      std::lock_guard lk(g_open_mutex);
      g_open_dirs.erase(key);
    }
  } claim;
  if (!read_only) {
    std::string key = canonical_dir(dir);
    std::lock_guard lk(g_open_mutex);
    if (!g_open_dirs.insert(key).second)
      return Status::error(EBUSY, "metadata store " + dir + " is already open in this process");
    claim.key = std::move(key);
  }
  struct stat st {};
  bool exists = ::stat((dir + "/CURRENT").c_str(), &st) == 0;
  if (create && exists) return Status::error(EEXIST, "metadata store already exists in " + dir);
  if (!create && !exists) return Status::error(ENOENT, "no metadata store in " + dir);

  rocksdb::Options opts;
  opts.create_if_missing = create;
  opts.create_missing_column_families = create;
  opts.IncreaseParallelism(2);
  opts.max_background_jobs = 2;
  opts.keep_log_file_num = 4;
  // Reuse WAL files: syncing an overwritten file needs no journal commit for
  // a size change (16-job fdatasync writes went from 6.4k to 7.1k IOPS here).
  opts.recycle_log_file_num = 4;
  opts.max_total_wal_size = 256ull << 20;
  opts.enable_pipelined_write = true;
  // The WAL is written to its file only by sync_wal(), after the data disks
  // were synced: a power cut can never leave metadata on disk that points at
  // data that is not (the OS could otherwise write the WAL back first).
  opts.manual_wal_flush = true;
  // The WAL buffer is written out early only when it fills; make that rare
  // (a second of metadata at tens of thousands of writes per second).
  opts.writable_file_max_buffer_size = 16ull << 20;
  auto flush_hook = std::make_shared<FlushHook>();
  opts.listeners.push_back(flush_hook);
  // Small writes carry their data in the WAL (JournalBlob) until the data
  // disks are synced: the blobs of the replayed WAL are kept for the owner,
  // and the WAL files stay until a memtable flush (whose hook syncs the data
  // disks first), so a crash during mount loses none of them.
  std::shared_ptr<JournalCollector> journal;
  if (!read_only) {
    journal = std::make_shared<JournalCollector>();
    opts.wal_filter = journal.get();
    opts.avoid_flush_during_recovery = true;
  }

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  auto cache = rocksdb::NewLRUCache(kDefaultBlockCacheBytes);
  table.block_cache = cache;
  rocksdb::ColumnFamilyOptions cf_opts(opts);
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_opts.write_buffer_size = 32ull << 20;

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_opts);
  for (size_t i = 0; i < static_cast<size_t>(Cf::kCount); ++i) {
    descs.emplace_back(cf_name(static_cast<Cf>(i)), cf_opts);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = read_only ? rocksdb::DB::OpenForReadOnly(opts, dir, descs, &handles, &raw,
                                                               /*error_if_wal_file_exists=*/false)
                                : rocksdb::DB::Open(opts, dir, descs, &handles, &raw);
  if (!s.ok()) {
    if (!read_only && locked_by_another_process(dir))
      return Status::error(EBUSY, "metadata store " + dir + " is locked by another process");
    return status_from_rocksdb(s, "cannot open metadata store " + dir);
  }

  std::unique_ptr<MetaStore> store(new MetaStore());
  store->m_dir = dir;
  store->m_flush_hook = flush_hook;
  store->m_journal = journal;
  store->m_read_only = read_only;
  store->m_block_cache = cache;
  store->m_db.reset(raw);
  store->m_default = handles[0];
  store->m_handles.assign(handles.begin() + 1, handles.end());
  std::vector<int64_t> cached(static_cast<size_t>(Cf::kCount), -1);
  for (Cf cf : {Cf::kInodes, Cf::kDentries, Cf::kXattrs})
    cached[static_cast<size_t>(cf)] = store->handle(cf)->GetID();
  store->m_records = std::make_unique<RecordCache>(std::move(cached), kRecordCacheBytes);
  store->m_open_key = claim.key;
  claim.kept = true;  // the store's destructor lets it go
  return store;
}

Result<std::optional<std::string>> MetaStore::get(Cf cf, const std::string& key) const {
  const auto family = static_cast<size_t>(cf);
  if (m_records->caches(family))
    return m_records->get(family, key, [&] { return get_from_db(cf, key); });
  return get_from_db(cf, key);
}

Result<std::optional<std::string>> MetaStore::get_from_db(Cf cf, const std::string& key) const {
  std::string value;
  rocksdb::Status s = m_db->Get(rocksdb::ReadOptions(), handle(cf), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return status_from_rocksdb(s, "metadata read");
  return std::optional<std::string>(std::move(value));
}

std::unique_ptr<rocksdb::Iterator> MetaStore::iterator(Cf cf) const {
  return std::unique_ptr<rocksdb::Iterator>(m_db->NewIterator(rocksdb::ReadOptions(), handle(cf)));
}

std::unique_ptr<rocksdb::Iterator> MetaStore::bounded_iterator(Cf cf, const rocksdb::Slice* lower,
                                                               const rocksdb::Slice* upper) const {
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = lower;
  ro.iterate_upper_bound = upper;
  return std::unique_ptr<rocksdb::Iterator>(m_db->NewIterator(ro, handle(cf)));
}

Status MetaStore::write(rocksdb::WriteBatch* batch, bool sync) {
  DFS_RETURN_IF_ERROR(
      status_from_rocksdb(m_db->Write(rocksdb::WriteOptions(), batch), "metadata write"));
  m_records->apply(*batch);  // before any caller can read through the cache
  return sync ? sync_wal() : Status::ok();
}

namespace {
// Replays a batch into another one, mapping column family ids to handles.
class AppendHandler : public rocksdb::WriteBatch::Handler {
 public:
  AppendHandler(rocksdb::WriteBatch* dst, const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                rocksdb::ColumnFamilyHandle* def)
      : m_dst(dst), m_handles(handles), m_default(def) {}
  rocksdb::Status PutCF(uint32_t id, const rocksdb::Slice& k, const rocksdb::Slice& v) override {
    auto* h = find(id);
    return h == nullptr ? rocksdb::Status::InvalidArgument("unknown column family")
                        : m_dst->Put(h, k, v);
  }
  rocksdb::Status DeleteCF(uint32_t id, const rocksdb::Slice& k) override {
    auto* h = find(id);
    return h == nullptr ? rocksdb::Status::InvalidArgument("unknown column family")
                        : m_dst->Delete(h, k);
  }
  rocksdb::Status DeleteRangeCF(uint32_t id, const rocksdb::Slice& b,
                                const rocksdb::Slice& e) override {
    auto* h = find(id);
    return h == nullptr ? rocksdb::Status::InvalidArgument("unknown column family")
                        : m_dst->DeleteRange(h, b, e);
  }
  void LogData(const rocksdb::Slice& blob) override { (void)m_dst->PutLogData(blob); }

 private:
  rocksdb::ColumnFamilyHandle* find(uint32_t id) const {
    if (m_default != nullptr && m_default->GetID() == id) return m_default;
    for (auto* h : m_handles) {
      if (h->GetID() == id) return h;
    }
    return nullptr;
  }
  rocksdb::WriteBatch* m_dst;
  const std::vector<rocksdb::ColumnFamilyHandle*>& m_handles;
  rocksdb::ColumnFamilyHandle* m_default;
};
}  // namespace

Status MetaStore::append(rocksdb::WriteBatch* dst, const rocksdb::WriteBatch& src) const {
  AppendHandler h(dst, m_handles, m_default);
  return status_from_rocksdb(src.Iterate(&h), "merging metadata batches");
}

Status MetaStore::sync_wal() {
  return status_from_rocksdb(m_db->FlushWAL(/*sync=*/true), "metadata WAL sync");
}

RecordCacheStats MetaStore::record_cache_stats() const {
  return m_records->stats();
}

Status MetaStore::write_wal() {
  return status_from_rocksdb(m_db->FlushWAL(/*sync=*/false), "metadata WAL write");
}

Status MetaStore::sync_written_wal() {
  return status_from_rocksdb(m_db->SyncWAL(), "metadata WAL sync");
}

Status MetaStore::flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return status_from_rocksdb(m_db->Flush(fo, m_handles), "metadata flush");
}

Status MetaStore::checkpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  DFS_RETURN_IF_ERROR(
      status_from_rocksdb(rocksdb::Checkpoint::Create(m_db.get(), &raw), "metadata checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush 0: always flush, so the WAL (flushed by hand here)
  // is never needed to read the copy.
  return status_from_rocksdb(cp->CreateCheckpoint(dir, /*log_size_for_flush=*/0),
                             "metadata checkpoint in " + dir);
}

void MetaStore::set_block_cache_capacity(uint64_t bytes) {
  m_block_cache->SetCapacity(bytes);
}

uint64_t MetaStore::block_cache_capacity() const {
  return m_block_cache->GetCapacity();
}

uint64_t MetaStore::block_cache_usage() const {
  return m_block_cache->GetUsage();
}

uint64_t MetaStore::property_sum(const std::string& name) const {
  uint64_t total = 0;
  for (auto* h : m_handles) {
    uint64_t v = 0;
    if (m_db->GetIntProperty(h, name, &v)) total += v;
  }
  return total;
}

}  // namespace dynamicfs

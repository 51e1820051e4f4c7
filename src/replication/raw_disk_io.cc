// RawDiskIo: job queues, workers, the store buffer and every disk job.
#include "src/replication/raw_disk_io.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/torrent_flags.hpp>

namespace dynamicfs {

namespace {

constexpr int kBlock = static_cast<int>(BufferPool::kBlockSize);
constexpr size_t kMaxMergedWrites = 64;  // 1 MiB per pwritev

lt::storage_error to_storage_error(const Status& s, int file, lt::operation_t op) {
  lt::storage_error e(lt::error_code(s.err(), boost::system::system_category()), op);
  e.file(lt::file_index_t(file));
  return e;
}

}  // namespace

// Received blocks not yet on disk, keyed by (storage, piece, block), in 32
// shards so the network thread and the workers rarely meet on one lock.
class RawDiskIo::StoreBuffer {
 public:
  static uint64_t key(lt::storage_index_t s, lt::piece_index_t p, int offset) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(s)) << 48) |
           (static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int>(p))) << 16) |
           static_cast<uint64_t>(offset / kBlock);
  }
  void insert(uint64_t k, const char* buf) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    sh.blocks[k] = buf;
  }
  // Removes the entry of K if it is still BUF (a newer write of the same
  // block keeps its own entry).
  void erase(uint64_t k, const char* buf) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    auto it = sh.blocks.find(k);
    if (it != sh.blocks.end() && it->second == buf) sh.blocks.erase(it);
  }
  // Copies `len` bytes at `skip` of the block into out; false if absent.
  bool copy(uint64_t k, int skip, int len, char* out) {
    Shard& sh = shard(k);
    std::lock_guard lk(sh.mutex);
    auto it = sh.blocks.find(k);
    if (it == sh.blocks.end()) return false;
    std::memcpy(out, it->second + skip, static_cast<size_t>(len));
    return true;
  }

 private:
  struct alignas(64) Shard {
    std::mutex mutex;
    std::unordered_map<uint64_t, const char*> blocks;
  };
  Shard& shard(uint64_t k) { return m_shards[(k ^ (k >> 17)) % m_shards.size()]; }
  std::array<Shard, 32> m_shards;
};

struct RawDiskIo::Storage {
  lt::storage_index_t index{0};
  const lt::file_storage* files = nullptr;
  ImageLayout layout;
  Status layout_status;
  std::string path;
  std::shared_ptr<void> torrent;  // keeps the torrent alive while jobs run

  std::mutex mutex;
  ImageTarget::Opener opener;
  std::shared_ptr<ImageTarget> disk;  // opened on first use, closed by release
  int pending_writes = 0;
  std::vector<Task> on_drained;

  // The open device, opening it if needed.
  Result<std::shared_ptr<ImageTarget>> open(bool writable) {
    std::lock_guard lk(mutex);
    if (!layout_status.is_ok()) return layout_status;
    if (!disk) {
      auto d = opener ? opener(path, writable) : ImageTarget::open_disk(path, writable);
      if (!d.is_ok()) return d.status();
      disk = std::move(d).value();
    }
    return disk;
  }
};

struct RawDiskIo::WriteJob {
  std::shared_ptr<Storage> st;
  lt::peer_request r;
  char* buf = nullptr;
  uint64_t key = 0;
  std::vector<ImageLayout::Segment> segs;
  std::function<void(const lt::storage_error&)> handler;
  std::shared_ptr<WorkGuard> work;  // released after the handler is posted
  // One segment of real data: may be merged with its neighbours.
  bool mergeable() const { return segs.size() == 1 && !segs[0].pad; }
};

lt::disk_io_constructor_type RawDiskIo::constructor(RawDiskOptions opts,
                                                    std::shared_ptr<RawDiskIo*> created) {
  return [opts, created](lt::io_context& ioc, const lt::settings_interface& s, lt::counters&) {
    auto io = std::make_unique<RawDiskIo>(ioc, s, opts);
    if (created) *created = io.get();
    return std::unique_ptr<lt::disk_interface>(std::move(io));
  };
}

RawDiskIo::RawDiskIo(lt::io_context& ioc, const lt::settings_interface& settings,
                     RawDiskOptions opts)
    : m_ioc(ioc),
      m_settings(settings),
      m_opts(opts),
      m_pool(1024),
      m_store(std::make_unique<StoreBuffer>()) {
  settings_updated();
}

RawDiskIo::~RawDiskIo() {
  abort(true);
}

void RawDiskIo::post(Task fn) {
  boost::asio::post(m_ioc, std::move(fn));
}

std::shared_ptr<RawDiskIo::Storage> RawDiskIo::storage(lt::storage_index_t idx) const {
  std::lock_guard lk(m_storages_mutex);
  auto i = static_cast<size_t>(static_cast<int>(idx));
  return i < m_storages.size() ? m_storages[i] : nullptr;
}

lt::storage_holder RawDiskIo::new_torrent(const lt::storage_params& p,
                                          const std::shared_ptr<void>& torrent) {
  auto st = std::make_shared<Storage>();
  st->files = &p.files;
  st->path = p.path;
  st->opener = m_opts.open_target;
  st->torrent = torrent;
  auto layout = ImageLayout::from_files(p.files);
  if (layout.is_ok()) {
    st->layout = std::move(layout).value();
  } else {
    st->layout_status = layout.status();
    spdlog::error("torrent refused: {}", layout.status().message());
  }
  std::lock_guard lk(m_storages_mutex);
  size_t slot = 0;
  while (slot < m_storages.size() && m_storages[slot]) ++slot;
  if (slot == m_storages.size()) m_storages.emplace_back();
  st->index = lt::storage_index_t(static_cast<std::uint32_t>(slot));
  m_storages[slot] = st;
  return lt::storage_holder(st->index, *this);
}

void RawDiskIo::remove_torrent(lt::storage_index_t idx) {
  std::lock_guard lk(m_storages_mutex);
  auto i = static_cast<size_t>(static_cast<int>(idx));
  if (i < m_storages.size()) m_storages[i].reset();  // jobs hold their own reference
}

RawDiskIo::Task RawDiskIo::keep_loop_busy(Task fn) {
  // The network loop must not run out of work while a job is queued or
  // running (set_piece_hashes runs its own loop until it is idle); the job
  // posts its handler before the guard goes away.
  auto guard = std::make_shared<WorkGuard>(boost::asio::make_work_guard(m_ioc));
  return [fn = std::move(fn), guard] { fn(); };
}

void RawDiskIo::queue_io(Task fn) {
  Task t = keep_loop_busy(std::move(fn));
  std::unique_lock lk(m_mutex);
  if (m_stopping && m_io_live == 0) {
    // After abort() the workers are gone: run it here, so its handler is
    // still called.
    lk.unlock();
    t();
    return;
  }
  m_io_queue.push_back(std::move(t));
  m_io_cv.notify_one();
}

void RawDiskIo::queue_hash(Task fn) {
  Task t = keep_loop_busy(std::move(fn));
  std::unique_lock lk(m_mutex);
  if (m_stopping && m_hash_live == 0) {
    lk.unlock();
    t();
    return;
  }
  m_hash_queue.push_back(std::move(t));
  m_hash_cv.notify_one();
}

lt::storage_error RawDiskIo::read_piece_range(Storage& st, lt::piece_index_t piece, int offset,
                                              int len, char* out) {
  // Block by block, so blocks still in the store buffer come from memory.
  while (len > 0) {
    int in_block = offset % kBlock;
    int n = std::min(len, kBlock - in_block);
    uint64_t k = StoreBuffer::key(st.index, piece, offset);
    if (m_store->copy(k, in_block, n, out)) {
      m_hits.fetch_add(1, std::memory_order_relaxed);
    } else {
      auto disk = st.open(m_opts.writable);
      if (!disk.is_ok()) return to_storage_error(disk.status(), -1, lt::operation_t::file_open);
      char* p = out;
      for (const auto& seg : st.layout.map(piece, offset, n)) {
        if (seg.pad) {
          std::memset(p, 0, seg.length);
        } else {
          Status s = disk.value()->read_at(p, seg.length, seg.disk_offset);
          if (!s.is_ok()) return to_storage_error(s, seg.file_index, lt::operation_t::file_read);
          m_bytes_read.fetch_add(seg.length, std::memory_order_relaxed);
        }
        p += seg.length;
      }
    }
    out += n;
    offset += n;
    len -= n;
  }
  return {};
}

void RawDiskIo::async_read(
    lt::storage_index_t storage_idx, const lt::peer_request& r,
    std::function<void(lt::disk_buffer_holder, const lt::storage_error&)> handler,
    lt::disk_job_flags_t) {
  auto st = storage(storage_idx);
  if (!st || r.length <= 0 || r.length > kBlock || r.start < 0) {
    lt::storage_error e(lt::error_code(EINVAL, boost::system::system_category()),
                        lt::operation_t::file_read);
    post([handler, e] { handler(lt::disk_buffer_holder(), e); });
    return;
  }
  char* buf = m_pool.allocate();
  // A block not yet written is served from memory without queueing.
  if (r.start % kBlock + r.length <= kBlock &&
      m_store->copy(StoreBuffer::key(st->index, r.piece, r.start), r.start % kBlock, r.length,
                    buf)) {
    m_hits.fetch_add(1, std::memory_order_relaxed);
    post([this, handler, buf, len = r.length] {
      handler(lt::disk_buffer_holder(*this, buf, len), lt::storage_error());
    });
    return;
  }
  // Handlers are moved, never copied, so libtorrent's objects they hold are
  // released on the network thread.
  queue_io([this, st, r, buf, handler = std::move(handler)]() mutable {
    lt::storage_error e = read_piece_range(*st, r.piece, r.start, r.length, buf);
    m_reads.fetch_add(1, std::memory_order_relaxed);
    if (e) {
      for (auto& o : m_pool.release(buf)) {
        if (auto p = o.lock()) post([p] { p->on_disk(); });
      }
      post([handler = std::move(handler), e] { handler(lt::disk_buffer_holder(), e); });
      return;
    }
    post([this, handler = std::move(handler), buf, len = r.length] {
      handler(lt::disk_buffer_holder(*this, buf, len), lt::storage_error());
    });
  });
}

bool RawDiskIo::async_write(lt::storage_index_t storage_idx, const lt::peer_request& r,
                            const char* buf, std::shared_ptr<lt::disk_observer> o,
                            std::function<void(const lt::storage_error&)> handler,
                            lt::disk_job_flags_t) {
  auto st = storage(storage_idx);
  if (!st || !m_opts.writable || r.length <= 0 || r.length > kBlock || r.start % kBlock != 0) {
    lt::storage_error e(
        lt::error_code(st && !m_opts.writable ? EROFS : EINVAL, boost::system::system_category()),
        lt::operation_t::file_write);
    post([handler, e] { handler(e); });
    return false;
  }
  if (!st->layout_status.is_ok()) {
    // A refused torrent (see new_torrent) has no layout to map the block
    // with; fail like every other job on it instead of queueing the block.
    auto e = to_storage_error(st->layout_status, -1, lt::operation_t::file_open);
    post([handler, e] { handler(e); });
    return false;
  }
  WriteJob job;
  job.st = st;
  job.r = r;
  job.buf = m_pool.allocate();
  std::memcpy(job.buf, buf, static_cast<size_t>(r.length));
  // A short block ends a file before a pad file (or ends the last piece):
  // hashing the piece through the store buffer reads the rest as zeros,
  // what the pad holds, never a recycled buffer's old bytes.
  if (r.length < kBlock) std::memset(job.buf + r.length, 0, static_cast<size_t>(kBlock - r.length));
  job.key = StoreBuffer::key(st->index, r.piece, r.start);
  job.segs = st->layout.map(r.piece, r.start, r.length);
  job.handler = std::move(handler);
  job.work = std::make_shared<WorkGuard>(boost::asio::make_work_guard(m_ioc));
  m_store->insert(job.key, job.buf);
  {
    std::lock_guard lk(st->mutex);
    ++st->pending_writes;
  }
  {
    std::unique_lock lk(m_mutex);
    if (m_stopping && m_io_live == 0) {
      // After abort() no worker is left to take it: write it here.
      lk.unlock();
      std::vector<WriteJob> group;
      group.push_back(std::move(job));
      run_writes(group);
      return m_pool.over_limit(std::move(o));
    }
    m_write_queue.push_back(std::move(job));
    m_io_cv.notify_one();
  }
  return m_pool.over_limit(std::move(o));
}

std::vector<RawDiskIo::WriteJob> RawDiskIo::take_write_group() {
  std::vector<WriteJob> group;
  group.push_back(std::move(m_write_queue.front()));
  m_write_queue.pop_front();
  if (!group[0].mergeable()) return group;
  // Pull queued writes that continue the run on the same disk.
  bool grew = true;
  while (grew && group.size() < kMaxMergedWrites) {
    grew = false;
    const auto& last = group.back();
    uint64_t end = last.segs[0].disk_offset + last.segs[0].length;
    for (auto it = m_write_queue.begin(); it != m_write_queue.end(); ++it) {
      if (it->st == last.st && it->mergeable() && it->segs[0].disk_offset == end) {
        group.push_back(std::move(*it));
        m_write_queue.erase(it);
        grew = true;
        break;
      }
    }
  }
  return group;
}

void RawDiskIo::run_writes(std::vector<WriteJob>& group) {
  auto& st = group[0].st;
  lt::storage_error err;
  auto disk = st->open(true);
  if (!disk.is_ok()) {
    err = to_storage_error(disk.status(), group[0].segs.empty() ? -1 : group[0].segs[0].file_index,
                           lt::operation_t::file_open);
  } else if (group[0].mergeable()) {
    std::vector<iovec> iov;
    uint64_t total = 0;
    for (auto& j : group) {
      iov.push_back({j.buf, j.segs[0].length});
      total += j.segs[0].length;
    }
    Status s = disk.value()->writev_at(iov.data(), static_cast<int>(iov.size()),
                                       group[0].segs[0].disk_offset);
    if (!s.is_ok())
      err = to_storage_error(s, group[0].segs[0].file_index, lt::operation_t::file_write);
    m_bytes_written.fetch_add(total, std::memory_order_relaxed);
    m_coalesced.fetch_add(group.size() - 1, std::memory_order_relaxed);
  } else {
    const char* p = group[0].buf;
    for (const auto& seg : group[0].segs) {
      if (!seg.pad) {
        Status s = disk.value()->write_at(p, seg.length, seg.disk_offset);
        if (!s.is_ok()) {
          err = to_storage_error(s, seg.file_index, lt::operation_t::file_write);
          break;
        }
        m_bytes_written.fetch_add(seg.length, std::memory_order_relaxed);
      }
      p += seg.length;
    }
  }
  if (err) {
    spdlog::error("write to {} failed: {}", st->path, err.ec.message());
    if (m_opts.write_errors) m_opts.write_errors->fetch_add(group.size());
  }
  for (auto& j : group) {
    m_writes.fetch_add(1, std::memory_order_relaxed);
    m_store->erase(j.key, j.buf);  // before the buffer goes back to the pool
    for (auto& o : m_pool.release(j.buf)) {
      if (auto p = o.lock()) post([p] { p->on_disk(); });
    }
    post([h = std::move(j.handler), err] { h(err); });
    write_done(j.st);
  }
}

void RawDiskIo::write_done(const std::shared_ptr<Storage>& st) {
  std::vector<Task> ready;
  {
    std::lock_guard lk(st->mutex);
    if (--st->pending_writes == 0) ready.swap(st->on_drained);
  }
  for (auto& fn : ready) queue_io(std::move(fn));
}

void RawDiskIo::when_drained(const std::shared_ptr<Storage>& st, Task fn) {
  {
    std::lock_guard lk(st->mutex);
    if (st->pending_writes > 0) {
      st->on_drained.push_back(std::move(fn));
      return;
    }
  }
  queue_io(std::move(fn));
}

namespace {

// Hash jobs read a piece one block at a time into their worker's own
// scratch block: no allocation per job, and memory bounded by the number of
// hashing threads.
char* hash_scratch() {
  thread_local std::array<char, BufferPool::kBlockSize> block;
  return block.data();
}

}  // namespace

void RawDiskIo::async_hash(
    lt::storage_index_t storage_idx, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2,
    lt::disk_job_flags_t flags,
    std::function<void(lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error&)>
        handler) {
  auto st = storage(storage_idx);
  if (!st) {
    post([handler, piece] {
      handler(piece, lt::sha1_hash(),
              lt::storage_error(lt::error_code(EINVAL, boost::system::system_category())));
    });
    return;
  }
  // The handler owns the memory behind `v2` (set_piece_hashes keeps the
  // vector in its handler): it must be moved, never copied, until it runs.
  queue_hash([this, st, piece, v2, flags, handler = std::move(handler)]() mutable {
    const lt::file_storage& fs = *st->files;
    bool v1 = bool(flags & lt::disk_interface::v1_hash);
    int size = fs.piece_size(piece);
    int size2 = fs.v2() ? fs.piece_size2(piece) : size;
    int len = v1 ? size : size2;
    lt::hasher h1;
    char* block = hash_scratch();
    lt::storage_error err;
    for (int off = 0, i = 0; off < len; off += kBlock, ++i) {
      int n = std::min(kBlock, len - off);
      err = read_piece_range(*st, piece, off, n, block);
      if (err) break;
      if (v1) h1.update(block, n);
      if (i < static_cast<int>(v2.size()) && off < size2) {
        v2[i] = lt::hasher256(block, std::min(n, size2 - off)).final();
      }
    }
    m_hashes.fetch_add(1, std::memory_order_relaxed);
    lt::sha1_hash result = v1 && !err ? h1.final() : lt::sha1_hash();
    post([handler = std::move(handler), piece, result, err] { handler(piece, result, err); });
  });
}

void RawDiskIo::async_hash2(
    lt::storage_index_t storage_idx, lt::piece_index_t piece, int offset, lt::disk_job_flags_t,
    std::function<void(lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error&)>
        handler) {
  auto st = storage(storage_idx);
  if (!st) {
    post([handler, piece] {
      handler(piece, lt::sha256_hash(),
              lt::storage_error(lt::error_code(EINVAL, boost::system::system_category())));
    });
    return;
  }
  queue_hash([this, st, piece, offset, handler = std::move(handler)]() mutable {
    int size2 = st->files->v2() ? st->files->piece_size2(piece) : st->files->piece_size(piece);
    int n = std::min(kBlock, size2 - offset);
    lt::storage_error err;
    lt::sha256_hash result;
    if (n <= 0 || offset < 0) {
      err = lt::storage_error(lt::error_code(EINVAL, boost::system::system_category()),
                              lt::operation_t::file_read);
    } else {
      char* block = hash_scratch();
      err = read_piece_range(*st, piece, offset, n, block);
      if (!err) result = lt::hasher256(block, n).final();
    }
    m_hashes.fetch_add(1, std::memory_order_relaxed);
    post([handler = std::move(handler), piece, result, err] { handler(piece, result, err); });
  });
}

void RawDiskIo::async_move_storage(
    lt::storage_index_t, std::string p, lt::move_flags_t,
    std::function<void(lt::status_t, const std::string&, const lt::storage_error&)> handler) {
  // A disk image lives where it is: its "save path" is the device.
  lt::storage_error e(lt::error_code(EOPNOTSUPP, boost::system::system_category()),
                      lt::operation_t::file_rename);
  post([handler, p, e] { handler(lt::status_t::fatal_disk_error, p, e); });
}

void RawDiskIo::async_release_files(lt::storage_index_t storage_idx,
                                    std::function<void()> handler) {
  auto st = storage(storage_idx);
  if (!st) {
    if (handler) post(handler);
    return;
  }
  when_drained(st, [this, st, handler] {
    {
      std::lock_guard lk(st->mutex);
      st->disk.reset();  // closed once running jobs drop their references
    }
    if (handler) post(handler);
  });
}

void RawDiskIo::async_check_files(
    lt::storage_index_t storage_idx, const lt::add_torrent_params* resume_data,
    lt::aux::vector<std::string, lt::file_index_t>,
    std::function<void(lt::status_t, const lt::storage_error&)> handler) {
  auto st = storage(storage_idx);
  bool seed_mode =
      resume_data != nullptr && bool(resume_data->flags & lt::torrent_flags::seed_mode);
  queue_io([this, st, seed_mode, handler] {
    if (!st) {
      post([handler] { handler(lt::status_t::fatal_disk_error, lt::storage_error()); });
      return;
    }
    auto disk = st->open(m_opts.writable);
    if (!disk.is_ok()) {
      auto e = to_storage_error(disk.status(), -1, lt::operation_t::file_open);
      post([handler, e] { handler(lt::status_t::fatal_disk_error, e); });
      return;
    }
    // Every range must lie inside the target (a region file of a volume
    // image, or the disk).
    const lt::file_storage& files = st->layout.files();
    for (lt::file_index_t i : files.file_range()) {
      if (files.pad_file_at(i)) continue;
      if (!disk.value()->contains(st->layout.disk_offset(i),
                                  static_cast<uint64_t>(files.file_size(i)))) {
        lt::storage_error e(lt::errors::file_too_short, i, lt::operation_t::check_resume);
        post([handler, e] { handler(lt::status_t::fatal_disk_error, e); });
        return;
      }
    }
    // A seed (read-only) serves its source as is; a fresh (zeroed) target
    // has nothing; any
    // other target may hold some pieces already (resume, older copy), so
    // libtorrent hashes them all and fetches only what differs.
    auto status = seed_mode || !m_opts.writable || m_opts.fresh_target
                      ? lt::status_t::no_error
                      : lt::status_t::need_full_check;
    post([handler, status] { handler(status, lt::storage_error()); });
  });
}

void RawDiskIo::async_stop_torrent(lt::storage_index_t storage_idx, std::function<void()> handler) {
  auto st = storage(storage_idx);
  if (!st) {
    if (handler) post(handler);
    return;
  }
  when_drained(st, [this, st, handler] {
    std::shared_ptr<ImageTarget> disk;
    {
      std::lock_guard lk(st->mutex);
      disk.swap(st->disk);
    }
    if (disk && m_opts.writable) {
      Status s = disk->sync();
      if (!s.is_ok()) spdlog::error("sync of {} failed: {}", st->path, s.message());
    }
    if (handler) post(handler);
  });
}

void RawDiskIo::async_rename_file(
    lt::storage_index_t, lt::file_index_t index, std::string name,
    std::function<void(const std::string&, lt::file_index_t, const lt::storage_error&)> handler) {
  lt::storage_error e(lt::error_code(EOPNOTSUPP, boost::system::system_category()), index,
                      lt::operation_t::file_rename);
  post([handler, name, index, e] { handler(name, index, e); });
}

void RawDiskIo::async_delete_files(lt::storage_index_t, lt::remove_flags_t,
                                   std::function<void(const lt::storage_error&)> handler) {
  // Never delete a disk.
  lt::storage_error e(lt::error_code(EOPNOTSUPP, boost::system::system_category()),
                      lt::operation_t::file_remove);
  post([handler, e] { handler(e); });
}

void RawDiskIo::async_set_file_priority(
    lt::storage_index_t, lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
    std::function<void(const lt::storage_error&,
                       lt::aux::vector<lt::download_priority_t, lt::file_index_t>)>
        handler) {
  // Priorities only steer which pieces are requested; nothing to store.
  post([handler, prio = std::move(prio)]() mutable {
    handler(lt::storage_error(), std::move(prio));
  });
}

void RawDiskIo::async_clear_piece(lt::storage_index_t storage_idx, lt::piece_index_t index,
                                  std::function<void(lt::piece_index_t)> handler) {
  auto st = storage(storage_idx);
  if (!st) {
    post([handler, index] { handler(index); });
    return;
  }
  // Waiting for every write of the storage covers those of this piece.
  when_drained(st, [this, handler, index] { post([handler, index] { handler(index); }); });
}

void RawDiskIo::update_stats_counters(lt::counters& c) const {
  c.set_value(lt::counters::disk_blocks_in_use, static_cast<std::int64_t>(m_pool.in_use()));
  std::lock_guard lk(m_mutex);
  c.set_value(lt::counters::num_write_jobs, static_cast<std::int64_t>(m_write_queue.size()));
  c.set_value(lt::counters::num_read_jobs, static_cast<std::int64_t>(m_io_queue.size()));
  c.set_value(
      lt::counters::num_jobs,
      static_cast<std::int64_t>(m_io_queue.size() + m_write_queue.size() + m_hash_queue.size()));
}

std::vector<lt::open_file_state> RawDiskIo::get_status(lt::storage_index_t storage_idx) const {
  std::vector<lt::open_file_state> out;
  auto st = storage(storage_idx);
  if (!st) return out;
  std::lock_guard lk(st->mutex);
  if (!st->disk) return out;
  // Every file of the image lives in the one open device.
  lt::file_open_mode_t mode =
      m_opts.writable ? lt::file_open_mode::read_write : lt::file_open_mode::read_only;
  for (lt::file_index_t i : st->files->file_range()) {
    if (!st->files->pad_file_at(i)) out.push_back({i, mode, lt::clock_type::now()});
  }
  return out;
}

void RawDiskIo::abort(bool wait) {
  {
    std::lock_guard lk(m_mutex);
    m_stopping = true;
  }
  m_io_cv.notify_all();
  m_hash_cv.notify_all();
  if (!wait) return;
  // Workers finish every queued job (writes are flushed) before they exit.
  std::vector<std::thread> threads;
  {
    std::lock_guard lk(m_mutex);
    threads.swap(m_threads);
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

void RawDiskIo::submit_jobs() {
  m_io_cv.notify_all();
  m_hash_cv.notify_all();
}

void RawDiskIo::settings_updated() {
  int io = m_settings.get_int(lt::settings_pack::aio_threads);
  int hash = m_settings.get_int(lt::settings_pack::hashing_threads);
  int queued = m_settings.get_int(lt::settings_pack::max_queued_disk_bytes);
  m_pool.set_limit(static_cast<size_t>(std::max(queued, kBlock * 16)) / BufferPool::kBlockSize);
  set_threads(static_cast<unsigned>(std::clamp(io, 1, 64)),
              static_cast<unsigned>(std::clamp(hash, 1, 64)));
}

void RawDiskIo::set_threads(unsigned io, unsigned hash) {
  std::lock_guard lk(m_mutex);
  if (m_stopping) return;
  m_io_target = io;
  m_hash_target = hash;
  while (m_io_live < m_io_target) {
    ++m_io_live;
    m_threads.emplace_back([this] { io_worker(); });
  }
  while (m_hash_live < m_hash_target) {
    ++m_hash_live;
    m_threads.emplace_back([this] { hash_worker(); });
  }
  // Surplus workers notice the lower target and exit.
  m_io_cv.notify_all();
  m_hash_cv.notify_all();
}

void RawDiskIo::io_worker() {
  std::unique_lock lk(m_mutex);
  for (;;) {
    m_io_cv.wait(lk, [this] {
      return m_stopping || m_io_live > m_io_target || !m_io_queue.empty() || !m_write_queue.empty();
    });
    if (m_io_queue.empty() && m_write_queue.empty()) {
      if (m_stopping || m_io_live > m_io_target) break;
      continue;
    }
    if (m_io_live > m_io_target && !m_stopping) break;
    // Reads (peers are waiting) before writes, unless writes pile up.
    bool write_first =
        !m_write_queue.empty() && (m_io_queue.empty() || m_pool.in_use() * 2 > m_pool.limit());
    if (write_first) {
      auto group = take_write_group();
      lk.unlock();
      run_writes(group);
    } else {
      Task t = std::move(m_io_queue.front());
      m_io_queue.pop_front();
      lk.unlock();
      t();
    }
    lk.lock();
  }
  --m_io_live;
}

void RawDiskIo::hash_worker() {
  std::unique_lock lk(m_mutex);
  for (;;) {
    m_hash_cv.wait(
        lk, [this] { return m_stopping || m_hash_live > m_hash_target || !m_hash_queue.empty(); });
    if (m_hash_queue.empty()) {
      if (m_stopping || m_hash_live > m_hash_target) break;
      continue;
    }
    if (m_hash_live > m_hash_target && !m_stopping) break;
    Task t = std::move(m_hash_queue.front());
    m_hash_queue.pop_front();
    lk.unlock();
    t();
    lk.lock();
  }
  --m_hash_live;
}

void RawDiskIo::free_disk_buffer(char* buf) {
  for (auto& o : m_pool.release(buf)) {
    if (auto p = o.lock()) post([p] { p->on_disk(); });
  }
}

RawDiskStats RawDiskIo::stats() const {
  RawDiskStats s;
  s.reads = m_reads.load();
  s.writes = m_writes.load();
  s.coalesced_writes = m_coalesced.load();
  s.store_buffer_hits = m_hits.load();
  s.bytes_read = m_bytes_read.load();
  s.bytes_written = m_bytes_written.load();
  s.hashes = m_hashes.load();
  s.buffers_in_use = m_pool.in_use();
  std::lock_guard lk(m_mutex);
  s.io_threads = m_io_live;
  s.hash_threads = m_hash_live;
  return s;
}

}  // namespace dynamicfs

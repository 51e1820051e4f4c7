// RawDiskIo: job queues, workers, the store buffer, and the data path:
// reads, writes and hashing of pieces (torrent lifecycle jobs, stats and
// settings are in raw_disk_io_admin.cc).
#include "src/replication/raw_disk_io.h"

#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/torrent_flags.hpp>

#include "src/replication/raw_disk_io_state.h"

namespace dynamicfs {

namespace {
using raw_disk_io_detail::kBlock;
using raw_disk_io_detail::to_storage_error;

constexpr size_t kMaxMergedWrites = 64;  // 1 MiB per pwritev
}  // namespace

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

// RawDiskIo: the torrent lifecycle jobs (check, release, stop, clear),
// stats, settings and shutdown; the data path is in raw_disk_io.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/error_code.hpp>

#include "src/replication/raw_disk_io.h"
#include "src/replication/raw_disk_io_state.h"

namespace dynamicfs {

namespace {
using raw_disk_io_detail::kBlock;
using raw_disk_io_detail::to_storage_error;
}  // namespace

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

}  // namespace dynamicfs

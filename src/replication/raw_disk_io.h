// RawDiskIo: libtorrent's disk subsystem for disk images. Instead of files in
// a save path, a torrent's "files" are byte ranges of one raw device or disk
// file (the save path), laid out by ImageLayout. Reads and writes go straight
// to the device with pread/pwritev; received blocks wait in a sharded store
// buffer (so a peer asking for a block not yet on disk is served from memory)
// and adjacent ones are merged into one pwritev. One BufferPool with
// watermarks bounds memory. Worker and hashing thread counts follow the
// session settings (aio_threads, hashing_threads) and change at run time in
// settings_updated(). Every error is reported to libtorrent as a
// storage_error; every handler is called, always on the network thread.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <libtorrent/disk_interface.hpp>
#include <libtorrent/io_context.hpp>
#include <libtorrent/performance_counters.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "src/replication/buffer_pool.h"
#include "src/replication/image_layout.h"
#include "src/replication/image_target.h"

namespace dynamicfs {

struct RawDiskOptions {
  bool writable = false;      // fetch: open targets read-write; seed: read-only
  bool fresh_target = false;  // the target was just created (zeros): no initial check
  // Counts failed writes; outlives the disk subsystem, so the fetch can tell
  // after the session is gone whether every verified piece reached the disk.
  std::shared_ptr<std::atomic<uint64_t>> write_errors;
  // Opens the target a torrent's save path names; default: the disk or
  // disk file at that path (ImageTarget::open_disk).
  ImageTarget::Opener open_target;
};

struct RawDiskStats {
  uint64_t reads = 0, writes = 0, coalesced_writes = 0, store_buffer_hits = 0;
  uint64_t bytes_read = 0, bytes_written = 0, hashes = 0;
  size_t buffers_in_use = 0;
  unsigned io_threads = 0, hash_threads = 0;
};

class RawDiskIo final : public lt::disk_interface, public lt::buffer_allocator_interface {
 public:
  static lt::disk_io_constructor_type constructor(RawDiskOptions opts,
                                                  std::shared_ptr<RawDiskIo*> created = {});

  RawDiskIo(lt::io_context& ioc, const lt::settings_interface& settings, RawDiskOptions opts);
  ~RawDiskIo() override;

  lt::storage_holder new_torrent(const lt::storage_params& p,
                                 const std::shared_ptr<void>& torrent) override;
  void remove_torrent(lt::storage_index_t idx) override;

  void async_read(lt::storage_index_t storage, const lt::peer_request& r,
                  std::function<void(lt::disk_buffer_holder, const lt::storage_error&)> handler,
                  lt::disk_job_flags_t flags) override;
  bool async_write(lt::storage_index_t storage, const lt::peer_request& r, const char* buf,
                   std::shared_ptr<lt::disk_observer> o,
                   std::function<void(const lt::storage_error&)> handler,
                   lt::disk_job_flags_t flags) override;
  void async_hash(
      lt::storage_index_t storage, lt::piece_index_t piece, lt::span<lt::sha256_hash> v2,
      lt::disk_job_flags_t flags,
      std::function<void(lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error&)>
          handler) override;
  void async_hash2(
      lt::storage_index_t storage, lt::piece_index_t piece, int offset, lt::disk_job_flags_t flags,
      std::function<void(lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error&)>
          handler) override;
  void async_move_storage(
      lt::storage_index_t storage, std::string p, lt::move_flags_t flags,
      std::function<void(lt::status_t, const std::string&, const lt::storage_error&)> handler)
      override;
  void async_release_files(lt::storage_index_t storage, std::function<void()> handler) override;
  void async_check_files(
      lt::storage_index_t storage, const lt::add_torrent_params* resume_data,
      lt::aux::vector<std::string, lt::file_index_t> links,
      std::function<void(lt::status_t, const lt::storage_error&)> handler) override;
  void async_stop_torrent(lt::storage_index_t storage, std::function<void()> handler) override;
  void async_rename_file(
      lt::storage_index_t storage, lt::file_index_t index, std::string name,
      std::function<void(const std::string&, lt::file_index_t, const lt::storage_error&)> handler)
      override;
  void async_delete_files(lt::storage_index_t storage, lt::remove_flags_t options,
                          std::function<void(const lt::storage_error&)> handler) override;
  void async_set_file_priority(
      lt::storage_index_t storage, lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio,
      std::function<void(const lt::storage_error&,
                         lt::aux::vector<lt::download_priority_t, lt::file_index_t>)>
          handler) override;
  void async_clear_piece(lt::storage_index_t storage, lt::piece_index_t index,
                         std::function<void(lt::piece_index_t)> handler) override;
  void update_stats_counters(lt::counters& c) const override;
  std::vector<lt::open_file_state> get_status(lt::storage_index_t storage) const override;
  void abort(bool wait) override;
  void submit_jobs() override;
  void settings_updated() override;

  void free_disk_buffer(char* buf) override;

  RawDiskStats stats() const;

 private:
  struct Storage;
  struct WriteJob;
  class StoreBuffer;
  using Task = std::function<void()>;
  using WorkGuard = boost::asio::executor_work_guard<lt::io_context::executor_type>;

  std::shared_ptr<Storage> storage(lt::storage_index_t idx) const;
  // Runs `fn` on the network thread.
  void post(Task fn);
  Task keep_loop_busy(Task fn);
  void queue_io(Task fn);
  void queue_hash(Task fn);
  // Runs `fn` on an I/O worker once no write of `st` is in flight.
  void when_drained(const std::shared_ptr<Storage>& st, Task fn);
  void write_done(const std::shared_ptr<Storage>& st);

  void io_worker();
  void hash_worker();
  void run_writes(std::vector<WriteJob>& group);
  // Takes the writes adjacent to the first one out of the queue (locked).
  std::vector<WriteJob> take_write_group();

  // Reads [offset, offset+len) of a piece: store buffer first, then disk.
  lt::storage_error read_piece_range(Storage& st, lt::piece_index_t piece, int offset, int len,
                                     char* out);
  void set_threads(unsigned io, unsigned hash);

  lt::io_context& m_ioc;
  const lt::settings_interface& m_settings;
  RawDiskOptions m_opts;
  BufferPool m_pool;
  std::unique_ptr<StoreBuffer> m_store;

  mutable std::mutex m_storages_mutex;
  std::vector<std::shared_ptr<Storage>> m_storages;

  mutable std::mutex m_mutex;  // the queues and thread counts
  std::condition_variable m_io_cv, m_hash_cv, m_idle_cv;
  std::deque<Task> m_io_queue;
  std::deque<WriteJob> m_write_queue;
  std::deque<Task> m_hash_queue;
  unsigned m_io_target = 0, m_io_live = 0, m_hash_target = 0, m_hash_live = 0;
  bool m_stopping = false;
  std::vector<std::thread> m_threads;

  std::atomic<uint64_t> m_reads{0}, m_writes{0}, m_coalesced{0}, m_hits{0};
  std::atomic<uint64_t> m_bytes_read{0}, m_bytes_written{0}, m_hashes{0};
};

}  // namespace dynamicfs

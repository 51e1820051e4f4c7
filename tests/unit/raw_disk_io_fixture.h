// The RawDiskIo test fixture: a temporary disk file whose torrent "files"
// are byte ranges named by their hex disk offset, a RawDiskIo over it, and
// helpers that run its jobs against the test's io_context with a deadline
// (a lost handler fails, it never hangs). Shared by raw_disk_io_test.cc
// (the data path) and raw_disk_io_jobs_test.cc (errors, other jobs,
// shutdown, settings, the buffer pool).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/disk_buffer_holder.hpp>
#include <libtorrent/download_priority.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/performance_counters.hpp>
#include <libtorrent/session_handle.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "src/replication/buffer_pool.h"
#include "src/replication/image_layout.h"
#include "src/replication/raw_disk_io.h"
#include "tests/unit/test_files.h"

namespace dynamicfs::raw_disk_io_test {

using namespace std::chrono_literals;

namespace fs = std::filesystem;

constexpr int kBlock = 0x4000;
constexpr int kPiece = 0x10000;
constexpr uint64_t kDiskSize = 0x300000;

using test_files::random_bytes;
using test_files::write_file;

using test_files::read_file;

using test_files::read_range;

inline lt::peer_request request(lt::piece_index_t piece, int start, int length) {
  lt::peer_request r;
  r.piece = piece;
  r.start = start;
  r.length = length;
  return r;
}

inline lt::sha256_hash sha256(const std::string& s) {
  return lt::hasher256(s.data(), static_cast<int>(s.size())).final();
}

// The result of one async_read.
struct ReadResult {
  bool done = false;
  lt::storage_error error;
  std::string data;
  lt::disk_buffer_holder holder;  // kept only when asked to
};

struct Observer final : lt::disk_observer {
  void on_disk() override { ++calls; }
  int calls = 0;
};

// A log sink that holds the thread logging a message containing TRIGGER
// until open() is called. RawDiskIo logs a failed write on the I/O worker
// that ran it, so a write to a missing device parks the (single) worker and
// lets a test queue jobs behind it deterministically. Installed as the
// default logger for the lifetime of the object; always opens on exit so a
// failing test cannot leave a worker parked.
class WorkerGate {
 public:
  explicit WorkerGate(std::string trigger)
      : m_sink(std::make_shared<Sink>(std::move(trigger))), m_old(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("worker_gate", m_sink));
  }
  ~WorkerGate() {
    open();
    spdlog::set_default_logger(m_old);
  }
  WorkerGate(const WorkerGate&) = delete;
  WorkerGate& operator=(const WorkerGate&) = delete;

  bool wait_parked(std::chrono::milliseconds limit) {
    std::unique_lock lk(m_sink->mutex);
    return m_sink->cv.wait_for(lk, limit, [this] { return m_sink->parked; });
  }
  void open() {
    std::lock_guard lk(m_sink->mutex);
    m_sink->opened = true;
    m_sink->cv.notify_all();
  }

 private:
  struct Sink final : spdlog::sinks::sink {
    explicit Sink(std::string t) : trigger(std::move(t)) {}
    void log(const spdlog::details::log_msg& msg) override {
      std::string_view text(msg.payload.data(), msg.payload.size());
      if (text.find(trigger) == std::string_view::npos) return;
      std::unique_lock lk(mutex);
      parked = true;
      cv.notify_all();
      cv.wait(lk, [this] { return opened; });
    }
    void flush() override {}
    void set_pattern(const std::string&) override {}
    void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

    std::string trigger;
    std::mutex mutex;
    std::condition_variable cv;
    bool parked = false, opened = false;
  };
  std::shared_ptr<Sink> m_sink;
  std::shared_ptr<spdlog::logger> m_old;
};

class RawDiskIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/raw_disk_io_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    m_disk = m_dir + "/disk.img";
    m_original = random_bytes(kDiskSize, 1);
    write_file(m_disk, m_original);
    // Three ranges: the first ends inside a piece (v1 pieces span files) and
    // no length is a multiple of 16 KiB except the second.
    m_data[0x10000] = random_bytes(100 * 1024 + 123, 2);
    m_data[0x100000] = random_bytes(200 * 1024, 3);
    m_data[0x200000] = random_bytes(50000, 4);
    m_sp.set_int(lt::settings_pack::aio_threads, 2);
    m_sp.set_int(lt::settings_pack::hashing_threads, 2);
    m_sp.set_int(lt::settings_pack::max_queued_disk_bytes, 16 << 20);
  }

  void TearDown() override {
    // Pending handlers are never run after the test body: they may refer to
    // its locals. abort(true) in the destructor finishes every queued job.
    m_holders.clear();
    m_io.reset();
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  RawDiskIo& start(RawDiskOptions opts) {
    m_io = std::make_unique<RawDiskIo>(m_ioc, m_sp, opts);
    return *m_io;
  }

  lt::storage_index_t add_storage(const lt::file_storage& files, const std::string& path) {
    lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio;
    m_holders.push_back(m_io->new_torrent(
        lt::storage_params(files, nullptr, path, lt::storage_mode_sparse, prio, lt::sha1_hash()),
        nullptr));
    EXPECT_TRUE(bool(m_holders.back()));
    return m_holders.back();
  }

  // Runs the network loop until DONE or the deadline.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (m_ioc.stopped()) m_ioc.restart();
      if (m_ioc.run_one_for(100ms) == 0) std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  // Runs whatever is ready (or becomes ready within LIMIT).
  void run_for(std::chrono::milliseconds limit) {
    m_ioc.restart();
    m_ioc.run_for(limit);
  }

  // A v1-only file_storage of DATA, built by hand: no pad files.
  static lt::file_storage v1_files(const std::map<uint64_t, std::string>& data) {
    lt::file_storage files;
    for (const auto& [off, bytes] : data) {
      files.add_file("img/" + ImageLayout::file_name(off), static_cast<std::int64_t>(bytes.size()));
    }
    files.set_piece_length(kPiece);
    files.set_num_pieces(static_cast<int>((files.total_size() + kPiece - 1) / kPiece));
    return files;
  }

  // A hybrid (v1 + v2) torrent of the ranges: create_torrent pads every file
  // to a piece boundary. libtorrent hashes copies of the files.
  std::shared_ptr<lt::torrent_info> hybrid_torrent() {
    std::string src = m_dir + "/src";
    fs::create_directories(src + "/img");
    lt::file_storage files;
    for (const auto& [off, bytes] : m_data) {
      std::string name = "img/" + ImageLayout::file_name(off);
      write_file(src + "/" + name, bytes);
      files.add_file(name, static_cast<std::int64_t>(bytes.size()));
    }
    lt::create_torrent ct(files, kPiece);
    lt::error_code ec;
    lt::set_piece_hashes(ct, src, ec);
    EXPECT_FALSE(ec) << ec.message();
    std::vector<char> buf;
    lt::bencode(std::back_inserter(buf), ct.generate());
    auto ti = std::make_shared<lt::torrent_info>(buf, ec, lt::from_span);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(ti->files().v2());
    return ti;
  }

  // The bytes of the whole torrent FILES: file data, pad files as PAD.
  std::string torrent_bytes(const lt::file_storage& files, char pad = '\0') const {
    std::string out;
    for (lt::file_index_t i : files.file_range()) {
      if (files.pad_file_at(i)) {
        out.append(static_cast<size_t>(files.file_size(i)), pad);
      } else {
        auto off = ImageLayout::parse_file_name(files.file_path(i));
        EXPECT_TRUE(off.is_ok());
        out += m_data.at(off.value());
      }
    }
    return out;
  }

  // The disk once every range holds its data; the bytes between untouched.
  std::string expected_disk() const {
    std::string d = m_original;
    for (const auto& [off, bytes] : m_data) d.replace(off, bytes.size(), bytes);
    return d;
  }

  // Queues a write of every block of BYTES (the torrent's bytes) to ST;
  // every handler counts into DONE and records errors.
  int write_all(lt::storage_index_t st, const lt::file_storage& files, const std::string& bytes,
                int& done, std::vector<lt::storage_error>& errors) {
    int queued = 0;
    for (lt::piece_index_t p : files.piece_range()) {
      int size = files.piece_size(p);
      for (int off = 0; off < size; off += kBlock) {
        int len = std::min(kBlock, size - off);
        auto pos = static_cast<size_t>(static_cast<int>(p)) * kPiece + static_cast<size_t>(off);
        m_io->async_write(st, request(p, off, len), bytes.data() + pos, nullptr,
                          [&done, &errors](const lt::storage_error& e) {
                            ++done;
                            if (e) errors.push_back(e);
                          },
                          {});
        ++queued;
      }
    }
    return queued;
  }

  void read(lt::storage_index_t st, lt::piece_index_t p, int start, int len, ReadResult& out,
            bool keep = false) {
    m_io->async_read(st, request(p, start, len),
                     [&out, keep](lt::disk_buffer_holder h, const lt::storage_error& e) {
                       out.done = true;
                       out.error = e;
                       if (h) out.data.assign(h.data(), static_cast<size_t>(h.size()));
                       if (keep) out.holder = std::move(h);
                     },
                     {});
  }

  lt::io_context m_ioc;
  lt::settings_pack m_sp;
  std::string m_dir, m_disk, m_original;
  std::map<uint64_t, std::string> m_data;  // disk offset -> bytes of the range
  std::unique_ptr<RawDiskIo> m_io;
  std::vector<lt::storage_holder> m_holders;  // released before m_io
};

}  // namespace dynamicfs::raw_disk_io_test

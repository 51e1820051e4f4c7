// RawDiskIo driven directly, without a session: every job type and error path
// against a temporary disk file whose torrent "files" are byte ranges named by
// their hex disk offset. Handlers are posted to the test's io_context, which
// the tests run with a deadline (a lost handler fails, it never hangs).
// BufferPool's watermarks are tested on their own.
#include "src/replication/raw_disk_io.h"

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
#include "tests/unit/test_files.h"

using namespace dynamicfs;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

constexpr int kBlock = 0x4000;
constexpr int kPiece = 0x10000;
constexpr uint64_t kDiskSize = 0x300000;

using test_files::random_bytes;
using test_files::write_file;

using test_files::read_file;

using test_files::read_range;

lt::peer_request request(lt::piece_index_t piece, int start, int length) {
  lt::peer_request r;
  r.piece = piece;
  r.start = start;
  r.length = length;
  return r;
}

lt::sha256_hash sha256(const std::string& s) {
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

// ---------------------------------------------------------------- read/write

TEST_F(RawDiskIoTest, WriteThenReadReturnsTheBytesAndTheyReachTheDisk) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string bytes = torrent_bytes(files);
  ASSERT_EQ(files.num_pieces(), 6);
  ASSERT_NE(files.piece_size(lt::piece_index_t(5)) % kBlock, 0) << "want a short last block";

  // Each block is read right after its write is queued: from the store
  // buffer while the write waits, from the disk once it is done.
  int done = 0;
  std::vector<lt::storage_error> errors;
  std::vector<std::unique_ptr<ReadResult>> reads;
  std::vector<std::string> want;
  int blocks = 0;
  for (lt::piece_index_t p : files.piece_range()) {
    int size = files.piece_size(p);
    for (int off = 0; off < size; off += kBlock) {
      int len = std::min(kBlock, size - off);
      auto pos = static_cast<size_t>(static_cast<int>(p)) * kPiece + static_cast<size_t>(off);
      bool full = m_io->async_write(st, request(p, off, len), bytes.data() + pos, nullptr,
                                    [&](const lt::storage_error& e) {
                                      ++done;
                                      if (e) errors.push_back(e);
                                    },
                                    {});
      EXPECT_FALSE(full);
      ++blocks;
      reads.push_back(std::make_unique<ReadResult>());
      read(st, p, off, len, *reads.back());
      want.push_back(bytes.substr(pos, static_cast<size_t>(len)));
    }
  }
  ASSERT_TRUE(run_until([&] {
    if (done < blocks) return false;
    for (auto& r : reads)
      if (!r->done) return false;
    return true;
  }));
  EXPECT_TRUE(errors.empty()) << errors.front().ec.message();
  for (size_t i = 0; i < reads.size(); ++i) {
    EXPECT_FALSE(reads[i]->error) << i << ": " << reads[i]->error.ec.message();
    EXPECT_EQ(reads[i]->data, want[i]) << "block " << i;
  }

  // Every write handler has run: the bytes are on the disk at the mapped
  // offsets, and the bytes between the ranges are untouched.
  EXPECT_TRUE(read_file(m_disk) == expected_disk());
  // Piece 1, block 2 spans the end of the first range and the start of the
  // second: it landed at both disk offsets.
  const std::string& first = m_data.at(0x10000);
  size_t tail = first.size() - (kPiece + 2 * kBlock);
  ASSERT_LT(tail, static_cast<size_t>(kBlock));
  EXPECT_EQ(read_range(m_disk, 0x10000 + kPiece + 2 * kBlock, tail),
            first.substr(first.size() - tail));
  EXPECT_EQ(read_range(m_disk, 0x100000, kBlock - tail),
            m_data.at(0x100000).substr(0, kBlock - tail));

  // Reading again after the writes comes from the disk and still matches;
  // a read of part of a block, and one spanning two blocks, too.
  ReadResult part, across;
  read(st, lt::piece_index_t(1), 2 * kBlock + 100, 5000, part);
  read(st, lt::piece_index_t(1), kBlock + 10000, kBlock, across);
  ASSERT_TRUE(run_until([&] { return part.done && across.done; }));
  EXPECT_FALSE(part.error);
  EXPECT_EQ(part.data, bytes.substr(kPiece + 2 * kBlock + 100, 5000));
  EXPECT_FALSE(across.error);
  EXPECT_EQ(across.data, bytes.substr(kPiece + kBlock + 10000, kBlock));

  auto s = m_io->stats();
  EXPECT_EQ(s.writes, static_cast<uint64_t>(blocks));
  EXPECT_EQ(s.bytes_written, static_cast<uint64_t>(bytes.size()));
  EXPECT_EQ(s.buffers_in_use, 0u);
}

TEST_F(RawDiskIoTest, PadFilesAreNeverWrittenAndReadAsZeros) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  auto ti = hybrid_torrent();
  const lt::file_storage& files = ti->files();
  ASSERT_EQ(files.num_files(), 6);  // three ranges, each followed by a pad file
  auto st = add_storage(files, m_disk);
  // Pad bytes sent as 0xee: had any reached the disk, the bytes between the
  // ranges would change.
  std::string bytes = torrent_bytes(files, '\xee');
  int done = 0;
  std::vector<lt::storage_error> errors;
  int blocks = write_all(st, files, bytes, done, errors);
  ASSERT_TRUE(run_until([&] { return done == blocks; }));
  EXPECT_TRUE(errors.empty()) << errors.front().ec.message();
  EXPECT_TRUE(read_file(m_disk) == expected_disk());
  uint64_t data_bytes = 0;
  for (const auto& [off, range] : m_data) data_bytes += range.size();
  EXPECT_EQ(m_io->stats().bytes_written, data_bytes);

  // Piece 1: the first range ends 4219 bytes into block 2; block 3 is pad.
  ReadResult mixed, pad;
  read(st, lt::piece_index_t(1), 2 * kBlock, kBlock, mixed);
  read(st, lt::piece_index_t(1), 3 * kBlock, kBlock, pad);
  ASSERT_TRUE(run_until([&] { return mixed.done && pad.done; }));
  ASSERT_FALSE(mixed.error);
  EXPECT_EQ(mixed.data, m_data.at(0x10000).substr(kPiece + 2 * kBlock) + std::string(12165, '\0'));
  ASSERT_FALSE(pad.error);
  EXPECT_EQ(pad.data, std::string(kBlock, '\0'));
}

TEST_F(RawDiskIoTest, AdjacentQueuedWritesAreMergedIntoOneWrite) {
  m_sp.set_int(lt::settings_pack::aio_threads, 1);
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  // One 1 MiB range: 16 pieces of 4 blocks, contiguous on the disk.
  m_data.clear();
  m_data[0x100000] = random_bytes(1 << 20, 5);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string missing = m_dir + "/missing.img";
  auto blocked = add_storage(files, missing);

  // Park the only I/O worker in the log of a failing write, queue 64
  // adjacent writes behind it, then let it go: it takes them as one group.
  WorkerGate gate(missing);
  lt::storage_error blocked_error;
  bool blocked_done = false;
  std::string zero(kBlock, '\0');
  m_io->async_write(blocked, request(lt::piece_index_t(0), 0, kBlock), zero.data(), nullptr,
                    [&](const lt::storage_error& e) {
                      blocked_done = true;
                      blocked_error = e;
                    },
                    {});
  ASSERT_TRUE(gate.wait_parked(10s));
  std::string bytes = torrent_bytes(files);
  int done = 0;
  std::vector<lt::storage_error> errors;
  int blocks = write_all(st, files, bytes, done, errors);
  ASSERT_EQ(blocks, 64);
  gate.open();
  ASSERT_TRUE(run_until([&] { return blocked_done && done == blocks; }));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(blocked_error.ec.value(), ENOENT);
  EXPECT_EQ(blocked_error.operation, lt::operation_t::file_open);
  EXPECT_TRUE(read_file(m_disk) == expected_disk());
  EXPECT_FALSE(fs::exists(missing));
  auto s = m_io->stats();
  EXPECT_EQ(s.writes, 65u);
  EXPECT_EQ(s.coalesced_writes, 63u);  // 64 blocks in one pwritev
  EXPECT_EQ(s.bytes_written, 1u << 20);
}

// -------------------------------------------------------------------- hashes

TEST_F(RawDiskIoTest, HashesOfAHybridTorrent) {
  write_file(m_disk, expected_disk());
  RawDiskOptions opts;
  start(opts);  // read-only, like a seed
  auto ti = hybrid_torrent();
  const lt::file_storage& files = ti->files();
  auto st = add_storage(files, m_disk);
  std::string bytes = torrent_bytes(files);  // pads are zeros
  constexpr int kBlocksPerPiece = kPiece / kBlock;

  for (bool v1 : {true, false}) {
    for (lt::piece_index_t p : files.piece_range()) {
      SCOPED_TRACE("piece " + std::to_string(static_cast<int>(p)) + (v1 ? " v1+v2" : " v2"));
      auto v2 = std::make_shared<std::vector<lt::sha256_hash>>(kBlocksPerPiece);
      bool done = false;
      lt::sha1_hash sha1;
      lt::storage_error error;
      lt::disk_job_flags_t flags = v1 ? lt::disk_interface::v1_hash : lt::disk_job_flags_t{};
      m_io->async_hash(
          st, p, *v2, flags,
          [&, v2](lt::piece_index_t piece, const lt::sha1_hash& h, const lt::storage_error& e) {
            EXPECT_EQ(piece, p);
            done = true;
            sha1 = h;
            error = e;
          });
      ASSERT_TRUE(run_until([&] { return done; }));
      ASSERT_FALSE(error) << error.ec.message();
      auto start = static_cast<size_t>(static_cast<int>(p)) * kPiece;
      if (v1) {
        EXPECT_EQ(sha1, lt::hasher(bytes.data() + start, kPiece).final());
        EXPECT_EQ(sha1, ti->hash_for_piece(p));
      } else {
        EXPECT_TRUE(sha1.is_all_zeros());
      }
      // v2 covers only the file's data: short blocks at a file's end, none
      // past it.
      int size2 = files.piece_size2(p);
      for (int i = 0; i < kBlocksPerPiece; ++i) {
        int off = i * kBlock;
        if (off < size2) {
          int n = std::min(kBlock, size2 - off);
          EXPECT_EQ((*v2)[static_cast<size_t>(i)],
                    sha256(bytes.substr(start + static_cast<size_t>(off), static_cast<size_t>(n))))
              << "block " << i;
        } else {
          EXPECT_TRUE((*v2)[static_cast<size_t>(i)].is_all_zeros()) << "block " << i;
        }
      }
    }
  }

  // async_hash2 of every block, including the short last blocks of the
  // first range (4219 bytes), the 8192-byte piece 5 and the last range (848).
  int checked_short = 0;
  for (lt::piece_index_t p : files.piece_range()) {
    int size2 = files.piece_size2(p);
    for (int off = 0; off < size2; off += kBlock) {
      SCOPED_TRACE("piece " + std::to_string(static_cast<int>(p)) + " offset " +
                   std::to_string(off));
      int n = std::min(kBlock, size2 - off);
      if (n < kBlock) ++checked_short;
      bool done = false;
      lt::sha256_hash h;
      lt::storage_error error;
      m_io->async_hash2(
          st, p, off, {},
          [&](lt::piece_index_t piece, const lt::sha256_hash& got, const lt::storage_error& e) {
            EXPECT_EQ(piece, p);
            done = true;
            h = got;
            error = e;
          });
      ASSERT_TRUE(run_until([&] { return done; }));
      ASSERT_FALSE(error) << error.ec.message();
      auto start = static_cast<size_t>(static_cast<int>(p)) * kPiece + static_cast<size_t>(off);
      EXPECT_EQ(h, sha256(bytes.substr(start, static_cast<size_t>(n))));
    }
  }
  EXPECT_EQ(checked_short, 3);
  EXPECT_GT(m_io->stats().hashes, 0u);
}

TEST_F(RawDiskIoTest, HashesOfAV1TorrentIncludeTheShortLastPiece) {
  write_file(m_disk, expected_disk());
  RawDiskOptions opts;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string bytes = torrent_bytes(files);
  for (lt::piece_index_t p : files.piece_range()) {
    bool done = false;
    lt::sha1_hash sha1;
    lt::storage_error error;
    m_io->async_hash(st, p, {}, lt::disk_interface::v1_hash,
                     [&](lt::piece_index_t, const lt::sha1_hash& h, const lt::storage_error& e) {
                       done = true;
                       sha1 = h;
                       error = e;
                     });
    ASSERT_TRUE(run_until([&] { return done; }));
    ASSERT_FALSE(error) << error.ec.message();
    auto start = static_cast<size_t>(static_cast<int>(p)) * kPiece;
    EXPECT_EQ(sha1, lt::hasher(bytes.data() + start, files.piece_size(p)).final())
        << "piece " << static_cast<int>(p);
  }
}

// ---------------------------------------------------------------- error paths

TEST_F(RawDiskIoTest, ReadPastTheEndOfAShortDiskFails) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  ASSERT_EQ(::truncate(m_disk.c_str(), 0x100000 + 100), 0);

  // Piece 0 lies in the first range, below the cut: still readable.
  ReadResult ok, cut;
  read(st, lt::piece_index_t(0), 0, kBlock, ok);
  // Piece 2 lies in the second range, past the cut.
  read(st, lt::piece_index_t(2), 0, kBlock, cut);
  ASSERT_TRUE(run_until([&] { return ok.done && cut.done; }));
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.data, m_original.substr(0x10000, kBlock));
  ASSERT_TRUE(cut.error);
  EXPECT_EQ(cut.error.ec.value(), EIO);
  EXPECT_EQ(cut.error.operation, lt::operation_t::file_read);
  EXPECT_EQ(cut.error.file(), lt::file_index_t(1));
  EXPECT_TRUE(cut.data.empty());

  bool hashed = false;
  lt::storage_error hash_error;
  m_io->async_hash(st, lt::piece_index_t(2), {}, lt::disk_interface::v1_hash,
                   [&](lt::piece_index_t, const lt::sha1_hash& h, const lt::storage_error& e) {
                     hashed = true;
                     hash_error = e;
                     EXPECT_TRUE(h.is_all_zeros());
                   });
  ASSERT_TRUE(run_until([&] { return hashed; }));
  EXPECT_EQ(hash_error.operation, lt::operation_t::file_read);

  bool checked = false;
  lt::status_t status{};
  lt::storage_error check_error;
  m_io->async_check_files(st, nullptr, {}, [&](lt::status_t s, const lt::storage_error& e) {
    checked = true;
    status = s;
    check_error = e;
  });
  ASSERT_TRUE(run_until([&] { return checked; }));
  EXPECT_EQ(status, lt::status_t::fatal_disk_error);
  EXPECT_EQ(check_error.ec, lt::error_code(lt::errors::file_too_short));
  EXPECT_EQ(m_io->stats().buffers_in_use, 0u) << "a failed read leaked its buffer";
}

TEST_F(RawDiskIoTest, ReadOnlyRefusesWrites) {
  RawDiskOptions opts;  // writable = false
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string block(kBlock, 'x');
  bool done = false;
  lt::storage_error error;
  EXPECT_FALSE(m_io->async_write(st, request(lt::piece_index_t(0), 0, kBlock), block.data(),
                                 nullptr,
                                 [&](const lt::storage_error& e) {
                                   done = true;
                                   error = e;
                                 },
                                 {}));
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(error.ec.value(), EROFS);
  EXPECT_EQ(error.operation, lt::operation_t::file_write);
  // Reads still work, and the disk is unchanged.
  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.data, m_original.substr(0x10000, kBlock));
  EXPECT_TRUE(read_file(m_disk) == m_original);
}

TEST_F(RawDiskIoTest, MissingDeviceFailsToOpen) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  std::string missing = m_dir + "/missing.img";
  auto st = add_storage(files, missing);

  // The read runs first: a read queued behind a pending write of its block
  // would be served from the store buffer.
  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  bool written = false;
  lt::storage_error write_error;
  std::string block(kBlock, 'x');
  m_io->async_write(st, request(lt::piece_index_t(0), 0, kBlock), block.data(), nullptr,
                    [&](const lt::storage_error& e) {
                      written = true;
                      write_error = e;
                    },
                    {});
  bool checked = false;
  lt::status_t status{};
  lt::storage_error check_error;
  m_io->async_check_files(st, nullptr, {}, [&](lt::status_t s, const lt::storage_error& e) {
    checked = true;
    status = s;
    check_error = e;
  });
  ASSERT_TRUE(run_until([&] { return r.done && written && checked; }));
  EXPECT_EQ(r.error.ec.value(), ENOENT);
  EXPECT_EQ(r.error.operation, lt::operation_t::file_open);
  EXPECT_EQ(write_error.ec.value(), ENOENT);
  EXPECT_EQ(write_error.operation, lt::operation_t::file_open);
  EXPECT_EQ(status, lt::status_t::fatal_disk_error);
  EXPECT_EQ(check_error.ec.value(), ENOENT);
  EXPECT_EQ(check_error.operation, lt::operation_t::file_open);
  EXPECT_FALSE(fs::exists(missing)) << "the device must never be created";
  EXPECT_TRUE(m_io->get_status(st).empty());
  EXPECT_EQ(m_io->stats().buffers_in_use, 0u);
}

TEST_F(RawDiskIoTest, NonHexFileNameFailsEveryJob) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files;
  files.add_file("img/not-an-offset", 100000);
  files.set_piece_length(kPiece);
  files.set_num_pieces(2);
  auto st = add_storage(files, m_disk);

  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  bool written = false, hashed = false, hashed2 = false, checked = false;
  lt::storage_error write_error, hash_error, hash2_error, check_error;
  lt::status_t status{};
  std::string block(kBlock, 'x');
  EXPECT_FALSE(m_io->async_write(st, request(lt::piece_index_t(0), 0, kBlock), block.data(),
                                 nullptr,
                                 [&](const lt::storage_error& e) {
                                   written = true;
                                   write_error = e;
                                 },
                                 {}));
  // A read of the block just written fails too (it must not be served from
  // memory).
  ReadResult again;
  read(st, lt::piece_index_t(0), 0, kBlock, again);
  m_io->async_hash(st, lt::piece_index_t(0), {}, lt::disk_interface::v1_hash,
                   [&](lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error& e) {
                     hashed = true;
                     hash_error = e;
                   });
  m_io->async_hash2(st, lt::piece_index_t(0), 0, {},
                    [&](lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error& e) {
                      hashed2 = true;
                      hash2_error = e;
                    });
  m_io->async_check_files(st, nullptr, {}, [&](lt::status_t s, const lt::storage_error& e) {
    checked = true;
    status = s;
    check_error = e;
  });
  ASSERT_TRUE(
      run_until([&] { return r.done && again.done && written && hashed && hashed2 && checked; }));
  EXPECT_EQ(r.error.ec.value(), EINVAL);
  EXPECT_EQ(again.error.ec.value(), EINVAL);
  EXPECT_TRUE(again.data.empty());
  EXPECT_EQ(write_error.ec.value(), EINVAL);
  EXPECT_EQ(write_error.operation, lt::operation_t::file_open);
  EXPECT_EQ(hash_error.ec.value(), EINVAL);
  EXPECT_EQ(hash2_error.ec.value(), EINVAL);
  EXPECT_EQ(check_error.ec.value(), EINVAL);
  EXPECT_EQ(status, lt::status_t::fatal_disk_error);
  EXPECT_TRUE(read_file(m_disk) == m_original);
  EXPECT_EQ(m_io->stats().buffers_in_use, 0u);
}

TEST_F(RawDiskIoTest, InvalidRequestsFail) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  lt::storage_index_t unknown(7);
  std::string block(2 * kBlock, 'x');

  std::vector<std::unique_ptr<ReadResult>> reads;
  auto bad_read = [&](lt::storage_index_t s, int start, int len) {
    reads.push_back(std::make_unique<ReadResult>());
    read(s, lt::piece_index_t(0), start, len, *reads.back());
  };
  bad_read(st, 0, 0);            // empty
  bad_read(st, 0, kBlock + 1);   // more than a block
  bad_read(st, -1, 10);          // negative start
  bad_read(unknown, 0, kBlock);  // no such storage
  std::vector<lt::storage_error> write_errors;
  auto bad_write = [&](lt::storage_index_t s, int start, int len) {
    EXPECT_FALSE(
        m_io->async_write(s, request(lt::piece_index_t(0), start, len), block.data(), nullptr,
                          [&](const lt::storage_error& e) { write_errors.push_back(e); }, {}));
  };
  bad_write(st, 100, 1000);       // not at a block boundary
  bad_write(st, 0, kBlock + 1);   // more than a block
  bad_write(st, 0, 0);            // empty
  bad_write(unknown, 0, kBlock);  // no such storage
  int hashes = 0;
  m_io->async_hash(unknown, lt::piece_index_t(0), {}, lt::disk_interface::v1_hash,
                   [&](lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error& e) {
                     ++hashes;
                     EXPECT_EQ(e.ec.value(), EINVAL);
                   });
  m_io->async_hash2(unknown, lt::piece_index_t(0), 0, {},
                    [&](lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error& e) {
                      ++hashes;
                      EXPECT_EQ(e.ec.value(), EINVAL);
                    });
  // async_hash2 past the end of the piece's data.
  m_io->async_hash2(st, lt::piece_index_t(5), files.piece_size(lt::piece_index_t(5)), {},
                    [&](lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error& e) {
                      ++hashes;
                      EXPECT_EQ(e.ec.value(), EINVAL);
                    });
  ASSERT_TRUE(run_until([&] {
    for (auto& r : reads)
      if (!r->done) return false;
    return write_errors.size() == 4 && hashes == 3;
  }));
  for (auto& r : reads) EXPECT_EQ(r->error.ec.value(), EINVAL);
  for (auto& e : write_errors) EXPECT_EQ(e.ec.value(), EINVAL);
  EXPECT_TRUE(read_file(m_disk) == m_original);
  EXPECT_EQ(m_io->stats().buffers_in_use, 0u);
}

// -------------------------------------------------------------- check_files

TEST_F(RawDiskIoTest, CheckFilesStatus) {
  lt::file_storage files = v1_files(m_data);
  auto check = [&](const lt::add_torrent_params* resume, lt::status_t& status,
                   lt::storage_error& error) {
    auto st = add_storage(files, m_disk);
    bool done = false;
    m_io->async_check_files(st, resume, {}, [&](lt::status_t s, const lt::storage_error& e) {
      done = true;
      status = s;
      error = e;
    });
    ASSERT_TRUE(run_until([&] { return done; }));
  };
  lt::status_t status{};
  lt::storage_error error;
  lt::add_torrent_params seed;
  seed.flags |= lt::torrent_flags::seed_mode;
  lt::add_torrent_params plain;
  plain.flags &= ~lt::torrent_flags::seed_mode;

  {
    RawDiskOptions opts;
    opts.writable = true;
    start(opts);
    // An existing target may hold pieces already: hash them all.
    check(nullptr, status, error);
    EXPECT_EQ(status, lt::status_t::need_full_check);
    EXPECT_FALSE(error);
    check(&plain, status, error);
    EXPECT_EQ(status, lt::status_t::need_full_check);
    // A seed trusts its data.
    check(&seed, status, error);
    EXPECT_EQ(status, lt::status_t::no_error);
    EXPECT_FALSE(error);
    m_holders.clear();
  }
  {
    RawDiskOptions opts;  // read-only: a seed serves its source as is
    start(opts);
    check(nullptr, status, error);
    EXPECT_EQ(status, lt::status_t::no_error);
    EXPECT_FALSE(error);
    m_holders.clear();
  }
  {
    RawDiskOptions opts;
    opts.writable = true;
    opts.fresh_target = true;  // zeros: nothing to check
    start(opts);
    check(nullptr, status, error);
    EXPECT_EQ(status, lt::status_t::no_error);
    EXPECT_FALSE(error);
    m_holders.clear();
  }
  {
    // A target one byte smaller than the layout: refused even when fresh
    // or seeding.
    uint64_t end = 0x200000 + 50000;
    ASSERT_EQ(::truncate(m_disk.c_str(), static_cast<off_t>(end - 1)), 0);
    RawDiskOptions opts;
    opts.writable = true;
    opts.fresh_target = true;
    start(opts);
    check(&seed, status, error);
    EXPECT_EQ(status, lt::status_t::fatal_disk_error);
    EXPECT_EQ(error.ec, lt::error_code(lt::errors::file_too_short));
    m_holders.clear();
    // Exactly the layout's end is enough.
    ASSERT_EQ(::truncate(m_disk.c_str(), static_cast<off_t>(end)), 0);
    check(nullptr, status, error);
    EXPECT_EQ(status, lt::status_t::no_error);
    EXPECT_FALSE(error);
    m_holders.clear();
  }
}

// ------------------------------------------------------ the other job types

TEST_F(RawDiskIoTest, OtherJobsCallTheirHandlers) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  auto ti = hybrid_torrent();
  const lt::file_storage& files = ti->files();
  auto st = add_storage(files, m_disk);

  // Nothing is open before the first job that needs the device.
  EXPECT_TRUE(m_io->get_status(st).empty());
  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  ASSERT_FALSE(r.error);
  auto open = m_io->get_status(st);
  ASSERT_EQ(open.size(), 3u);  // the three ranges, not the pad files
  EXPECT_EQ(open[0].file_index, lt::file_index_t(0));
  EXPECT_EQ(open[1].file_index, lt::file_index_t(2));
  EXPECT_EQ(open[2].file_index, lt::file_index_t(4));
  for (const auto& f : open) EXPECT_EQ(f.open_mode, lt::file_open_mode::read_write);

  lt::counters counters;
  m_io->update_stats_counters(counters);
  EXPECT_EQ(counters[lt::counters::disk_blocks_in_use], 0);

  int released = 0, stopped = 0;
  std::vector<lt::piece_index_t> cleared;
  m_io->async_release_files(st, [&] { ++released; });
  m_io->async_clear_piece(st, lt::piece_index_t(3),
                          [&](lt::piece_index_t p) { cleared.push_back(p); });
  ASSERT_TRUE(run_until([&] { return released == 1 && cleared.size() == 1; }));
  EXPECT_EQ(cleared[0], lt::piece_index_t(3));
  EXPECT_TRUE(m_io->get_status(st).empty()) << "release_files closes the device";

  bool moved = false;
  lt::status_t move_status{};
  std::string move_path;
  lt::storage_error move_error;
  m_io->async_move_storage(st, m_dir + "/elsewhere", lt::move_flags_t::always_replace_files,
                           [&](lt::status_t s, const std::string& p, const lt::storage_error& e) {
                             moved = true;
                             move_status = s;
                             move_path = p;
                             move_error = e;
                           });
  bool renamed = false;
  std::string rename_name;
  lt::file_index_t rename_index{-1};
  lt::storage_error rename_error;
  m_io->async_rename_file(
      st, lt::file_index_t(2), "other-name",
      [&](const std::string& name, lt::file_index_t i, const lt::storage_error& e) {
        renamed = true;
        rename_name = name;
        rename_index = i;
        rename_error = e;
      });
  bool deleted = false;
  lt::storage_error delete_error;
  m_io->async_delete_files(st, lt::session_handle::delete_files, [&](const lt::storage_error& e) {
    deleted = true;
    delete_error = e;
  });
  lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio(6, lt::download_priority_t(4));
  prio[lt::file_index_t(2)] = lt::dont_download;
  bool prioritized = false;
  lt::storage_error prio_error;
  lt::aux::vector<lt::download_priority_t, lt::file_index_t> prio_echo;
  m_io->async_set_file_priority(st, prio,
                                [&](const lt::storage_error& e,
                                    lt::aux::vector<lt::download_priority_t, lt::file_index_t> p) {
                                  prioritized = true;
                                  prio_error = e;
                                  prio_echo = std::move(p);
                                });
  m_io->async_stop_torrent(st, [&] { ++stopped; });
  ASSERT_TRUE(run_until([&] { return moved && renamed && deleted && prioritized && stopped; }));

  EXPECT_EQ(move_status, lt::status_t::fatal_disk_error);
  EXPECT_EQ(move_error.ec.value(), EOPNOTSUPP);
  EXPECT_EQ(move_path, m_dir + "/elsewhere");
  EXPECT_FALSE(fs::exists(m_dir + "/elsewhere"));
  EXPECT_EQ(rename_error.ec.value(), EOPNOTSUPP);
  EXPECT_EQ(rename_index, lt::file_index_t(2));
  EXPECT_EQ(rename_name, "other-name");
  EXPECT_EQ(delete_error.ec.value(), EOPNOTSUPP);
  EXPECT_EQ(delete_error.operation, lt::operation_t::file_remove);
  EXPECT_FALSE(prio_error);
  EXPECT_TRUE(prio_echo == prio);
  ASSERT_TRUE(fs::exists(m_disk)) << "a disk is never deleted";
  EXPECT_TRUE(read_file(m_disk) == m_original);

  // Each handler ran exactly once.
  run_for(50ms);
  EXPECT_EQ(released, 1);
  EXPECT_EQ(stopped, 1);
  EXPECT_EQ(cleared.size(), 1u);

  // Jobs on a storage that is gone still call back.
  m_holders.clear();
  m_io->async_release_files(st, [&] { ++released; });
  m_io->async_stop_torrent(st, [&] { ++stopped; });
  m_io->async_clear_piece(st, lt::piece_index_t(1),
                          [&](lt::piece_index_t p) { cleared.push_back(p); });
  ASSERT_TRUE(run_until([&] { return released == 2 && stopped == 2 && cleared.size() == 2; }));
  EXPECT_EQ(cleared[1], lt::piece_index_t(1));
}

TEST_F(RawDiskIoTest, StopReleaseAndClearWaitForQueuedWrites) {
  m_sp.set_int(lt::settings_pack::aio_threads, 1);
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string missing = m_dir + "/missing.img";
  auto blocked = add_storage(files, missing);
  std::string bytes = torrent_bytes(files);

  WorkerGate gate(missing);
  std::string zero(kBlock, '\0');
  int blocked_done = 0;
  m_io->async_write(blocked, request(lt::piece_index_t(0), 0, kBlock), zero.data(), nullptr,
                    [&](const lt::storage_error&) { ++blocked_done; }, {});
  ASSERT_TRUE(gate.wait_parked(10s));
  // Every write is queued behind the parked worker when the jobs that must
  // wait for them are issued.
  int done = 0;
  std::vector<lt::storage_error> errors;
  int blocks = write_all(st, files, bytes, done, errors);
  int writes_before_clear = -1, writes_before_release = -1, writes_before_stop = -1;
  std::string disk_at_stop;
  m_io->async_clear_piece(st, lt::piece_index_t(2), [&](lt::piece_index_t p) {
    EXPECT_EQ(p, lt::piece_index_t(2));
    writes_before_clear = done;
  });
  m_io->async_release_files(st, [&] { writes_before_release = done; });
  m_io->async_stop_torrent(st, [&] {
    writes_before_stop = done;
    disk_at_stop = read_file(m_disk);
  });
  run_for(20ms);
  EXPECT_EQ(done, 0);
  EXPECT_EQ(writes_before_stop, -1);
  gate.open();
  ASSERT_TRUE(run_until([&] {
    return writes_before_stop >= 0 && writes_before_release >= 0 && writes_before_clear >= 0 &&
           blocked_done == 1;
  }));
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(writes_before_clear, blocks);
  EXPECT_EQ(writes_before_release, blocks);
  EXPECT_EQ(writes_before_stop, blocks);
  EXPECT_TRUE(disk_at_stop == expected_disk());
}

TEST_F(RawDiskIoTest, AbortFlushesQueuedWrites) {
  m_sp.set_int(lt::settings_pack::aio_threads, 1);
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string missing = m_dir + "/missing.img";
  auto blocked = add_storage(files, missing);
  std::string bytes = torrent_bytes(files);

  WorkerGate gate(missing);
  std::string zero(kBlock, '\0');
  m_io->async_write(blocked, request(lt::piece_index_t(0), 0, kBlock), zero.data(), nullptr,
                    [](const lt::storage_error&) {}, {});
  ASSERT_TRUE(gate.wait_parked(10s));
  int done = 0;
  std::vector<lt::storage_error> errors;
  int blocks = write_all(st, files, bytes, done, errors);
  m_io->abort(false);  // stopping, with every write still queued
  gate.open();
  m_io->abort(true);
  // abort(true) returned: every write is on the disk, though no handler ran.
  EXPECT_EQ(done, 0);
  EXPECT_TRUE(read_file(m_disk) == expected_disk());
  EXPECT_EQ(m_io->stats().writes, static_cast<uint64_t>(blocks + 1));
  EXPECT_EQ(m_io->stats().io_threads, 0u);
  EXPECT_EQ(m_io->stats().hash_threads, 0u);
  // The handlers were posted all the same.
  ASSERT_TRUE(run_until([&] { return done == blocks; }));
  EXPECT_TRUE(errors.empty());
}

// Jobs that arrive after abort() (no worker is left) still run and call
// their handlers.
TEST_F(RawDiskIoTest, JobsAfterAbortStillRunAndCallTheirHandlers) {
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  std::string bytes = torrent_bytes(files);
  m_io->abort(true);
  ASSERT_EQ(m_io->stats().io_threads, 0u);
  int done = 0;
  std::vector<lt::storage_error> errors;
  int blocks = write_all(st, files, bytes, done, errors);
  ASSERT_TRUE(run_until([&] { return done == blocks; }));
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(read_file(m_disk) == expected_disk());
  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  bool hashed = false, hashed2 = false, released = false;
  m_io->async_hash(
      st, lt::piece_index_t(0), {}, lt::disk_interface::v1_hash,
      [&](lt::piece_index_t, const lt::sha1_hash&, const lt::storage_error&) { hashed = true; });
  m_io->async_hash2(
      st, lt::piece_index_t(0), 0, lt::disk_job_flags_t{},
      [&](lt::piece_index_t, const lt::sha256_hash&, const lt::storage_error&) { hashed2 = true; });
  m_io->async_release_files(st, [&] { released = true; });
  ASSERT_TRUE(run_until([&] { return r.done && hashed && hashed2 && released; }));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.data, bytes.substr(0, kBlock));
}

// ----------------------------------------------------------------- settings

TEST_F(RawDiskIoTest, SettingsChangeTheThreadCounts) {
  start(RawDiskOptions{});
  auto threads = [&](unsigned io, unsigned hash) {
    return run_until([&] {
      auto s = m_io->stats();
      return s.io_threads == io && s.hash_threads == hash;
    });
  };
  EXPECT_TRUE(threads(2, 2));
  m_sp.set_int(lt::settings_pack::aio_threads, 5);
  m_sp.set_int(lt::settings_pack::hashing_threads, 3);
  m_io->settings_updated();
  EXPECT_TRUE(threads(5, 3));
  // Fewer: surplus workers exit when they notice.
  m_sp.set_int(lt::settings_pack::aio_threads, 1);
  m_sp.set_int(lt::settings_pack::hashing_threads, 1);
  m_io->settings_updated();
  EXPECT_TRUE(threads(1, 1)) << m_io->stats().io_threads << " " << m_io->stats().hash_threads;
  // Out of range values are clamped to at least one worker.
  m_sp.set_int(lt::settings_pack::aio_threads, 0);
  m_sp.set_int(lt::settings_pack::hashing_threads, 0);
  m_io->settings_updated();
  EXPECT_TRUE(threads(1, 1));
  m_sp.set_int(lt::settings_pack::aio_threads, 4);
  m_sp.set_int(lt::settings_pack::hashing_threads, 2);
  m_io->settings_updated();
  EXPECT_TRUE(threads(4, 2));

  // The remaining workers still run jobs.
  write_file(m_disk, expected_disk());
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  ReadResult r;
  read(st, lt::piece_index_t(0), 0, kBlock, r);
  bool hashed = false;
  m_io->async_hash2(st, lt::piece_index_t(0), 0, {},
                    [&](lt::piece_index_t, const lt::sha256_hash& h, const lt::storage_error& e) {
                      hashed = true;
                      EXPECT_FALSE(e);
                      EXPECT_EQ(h, sha256(m_data.at(0x10000).substr(0, kBlock)));
                    });
  ASSERT_TRUE(run_until([&] { return r.done && hashed; }));
  EXPECT_EQ(r.data, m_data.at(0x10000).substr(0, kBlock));
}

// --------------------------------------------------------------- backpressure

TEST_F(RawDiskIoTest, FullPoolPausesWritersUntilBelowTheLowWatermark) {
  // The smallest pool: 16 buffers, low watermark 8.
  m_sp.set_int(lt::settings_pack::max_queued_disk_bytes, 16 * kBlock);
  RawDiskOptions opts;
  opts.writable = true;
  start(opts);
  lt::file_storage files = v1_files(m_data);
  auto st = add_storage(files, m_disk);
  // Sixteen blocks read and held by "peers" fill the pool.
  std::vector<std::unique_ptr<ReadResult>> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(std::make_unique<ReadResult>());
    read(st, lt::piece_index_t(i / 4), (i % 4) * kBlock, kBlock, *held.back(), true);
  }
  ASSERT_TRUE(run_until([&] {
    for (auto& r : held)
      if (!r->done) return false;
    return true;
  }));
  EXPECT_EQ(m_io->stats().buffers_in_use, 16u);

  auto observer = std::make_shared<Observer>();
  std::string block(kBlock, 'w');
  bool written = false;
  EXPECT_TRUE(m_io->async_write(st, request(lt::piece_index_t(0), 0, kBlock), block.data(),
                                observer,
                                [&](const lt::storage_error& e) {
                                  written = true;
                                  EXPECT_FALSE(e);
                                },
                                {}))
      << "a full pool must ask the peer to wait";
  ASSERT_TRUE(run_until([&] { return written; }));
  EXPECT_EQ(read_range(m_disk, 0x10000, kBlock), block);

  // Releasing the held blocks: no wake-up until 8 are left, then one.
  for (int i = 0; i < 16; ++i) {
    held[static_cast<size_t>(i)]->holder.reset();
    run_for(5ms);
    if (m_io->stats().buffers_in_use > 8) {
      EXPECT_EQ(observer->calls, 0) << i;
    }
  }
  ASSERT_TRUE(run_until([&] { return observer->calls > 0; }));
  run_for(20ms);
  EXPECT_EQ(observer->calls, 1);
  EXPECT_EQ(m_io->stats().buffers_in_use, 0u);
}

// ---------------------------------------------------------------- BufferPool

TEST(BufferPool, WatermarksWakeTheObserverOnce) {
  BufferPool pool(16);
  EXPECT_EQ(pool.limit(), 16u);
  auto observer = std::make_shared<Observer>();
  std::vector<char*> bufs;
  for (int i = 0; i < 15; ++i) bufs.push_back(pool.allocate());
  EXPECT_FALSE(pool.over_limit(observer));
  bufs.push_back(pool.allocate());
  EXPECT_EQ(pool.in_use(), 16u);
  EXPECT_TRUE(pool.over_limit(observer));
  bufs.push_back(pool.allocate());
  EXPECT_TRUE(pool.over_limit(nullptr));
  // Buffers are usable (aligned, a full block each).
  for (char* b : bufs) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 4096, 0u);
    std::memset(b, 0x5a, BufferPool::kBlockSize);
  }

  int woken = 0;
  while (!bufs.empty()) {
    char* b = bufs.back();
    bufs.pop_back();
    auto wake = pool.release(b);
    if (pool.in_use() > 8) {
      EXPECT_TRUE(wake.empty()) << pool.in_use();
    } else if (pool.in_use() == 8) {
      ASSERT_EQ(wake.size(), 1u);
      EXPECT_EQ(wake[0].lock(), observer);
      ++woken;
    } else {
      EXPECT_TRUE(wake.empty()) << pool.in_use();
    }
  }
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_FALSE(pool.over_limit(observer));
  EXPECT_TRUE(pool.release(nullptr).empty());

  // Recycled buffers count again; the limit never drops below 16.
  pool.set_limit(4);
  EXPECT_EQ(pool.limit(), 16u);
  pool.set_limit(64);
  EXPECT_EQ(pool.limit(), 64u);
  char* b = pool.allocate();
  EXPECT_EQ(pool.in_use(), 1u);
  EXPECT_FALSE(pool.over_limit(observer));
  EXPECT_TRUE(pool.release(b).empty());
}

TEST(BufferPool, NoWakeWithoutAPause) {
  BufferPool pool(16);
  std::vector<char*> bufs;
  for (int i = 0; i < 10; ++i) bufs.push_back(pool.allocate());
  for (char* b : bufs) EXPECT_TRUE(pool.release(b).empty());
}

}  // namespace

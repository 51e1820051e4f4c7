// RawDiskIo driven directly, without a session: writes and reads reach the
// disk file, pad files, merged writes, piece hashes of v1 and hybrid
// torrents, short disks and read-only targets (errors, other jobs and
// shutdown are in raw_disk_io_jobs_test.cc).
#include "tests/unit/raw_disk_io_fixture.h"

using namespace dynamicfs;
using namespace dynamicfs::raw_disk_io_test;

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

// RawDiskIo driven directly: missing devices and bad file names fail every
// job, invalid requests fail, check_files reports, the other job types call
// their handlers, stop/release/clear/abort flush queued writes, settings
// change the thread counts, a full pool pauses writers
// (BufferPool's watermarks: buffer_pool_test.cc).
#include "tests/unit/raw_disk_io_fixture.h"

using namespace dynamicfs;
using namespace dynamicfs::raw_disk_io_test;

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

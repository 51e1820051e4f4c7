// GroupCommitCoordinator on a real RocksDB: concurrent durable submitters
// share WAL syncs, nobody returns before the WAL covering its batch is
// synced, applied batches are visible at once, and disabling group commit
// gives one sync per request.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "metadata/group_commit_coordinator.h"
#include "metadata/key_codec.h"

using namespace dynamicfs;

namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dfs-gc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    auto s = MetaStore::open(m_dir + "/meta", true);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    m_store = std::move(s).value();
  }
  void TearDown() override {
    m_store.reset();
    std::filesystem::remove_all(m_dir);
  }
  // Runs `threads` x `per_thread` (apply + make_durable) and checks each
  // caller's batch is covered by the durable sequence when it returns.
  void run_durable(GroupCommitCoordinator& gc, int threads, int per_thread) {
    std::atomic<int> violations{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          rocksdb::WriteBatch b;
          b.Put(m_store->handle(Cf::kInodes),
                KeyCodec::inode_key(static_cast<uint64_t>(t) * 100000 + i), "v");
          ASSERT_TRUE(gc.apply(&b).is_ok());
          uint64_t mine = m_store->db()->GetLatestSequenceNumber();  // >= this batch's sequence
          ASSERT_TRUE(gc.make_durable().is_ok());
          if (gc.durable_sequence() < mine) ++violations;
        }
      });
    }
    for (auto& th : ts) th.join();
    EXPECT_EQ(violations.load(), 0) << "a durable commit returned before its batch was synced";
  }
  std::string m_dir;
  std::unique_ptr<MetaStore> m_store;
};

}  // namespace

TEST_F(GroupCommitTest, ThousandDurableSubmittersShareSyncs) {
  // Deterministic sharing: the first WAL sync is held until every thread
  // has asked for one, so the other 63 first requests must share at most
  // two syncs; without sharing there would be one sync per request.
  GroupCommitCoordinator gc(m_store.get());
  std::atomic<bool> first{true};
  gc.set_before_sync_hook([&] {
    if (!first.exchange(false)) return;
    while (gc.stats().sync_requests < 64) std::this_thread::yield();
  });
  run_durable(gc, 64, 16);
  auto s = gc.stats();
  EXPECT_EQ(s.sync_requests, 1024u);
  EXPECT_EQ(s.batches, 1024u);
  EXPECT_LE(s.syncs, s.sync_requests - 61);
  std::printf("1024 durable submitters (64 threads x 16) -> %llu WAL syncs, %llu merged writes\n",
              static_cast<unsigned long long>(s.syncs), static_cast<unsigned long long>(s.writes));
}

TEST_F(GroupCommitTest, ThousandConcurrentSubmittersNeedTwoSyncs) {
  // Deterministic: the first WAL sync is held until all 1,000 submitters
  // are waiting; one more sync must then cover every one of them.
  constexpr int kSubmitters = 1000;
  GroupCommitCoordinator gc(m_store.get());
  std::atomic<bool> first{true};
  gc.set_before_sync_hook([&] {
    if (!first.exchange(false)) return;
    while (gc.stats().sync_requests < kSubmitters) std::this_thread::yield();
  });
  run_durable(gc, kSubmitters, 1);
  EXPECT_EQ(gc.stats().sync_requests, static_cast<uint64_t>(kSubmitters));
  // The held sync, plus at most one more for everyone who queued behind it
  // (none if the held sync already covered every batch).
  EXPECT_GE(gc.stats().syncs, 1u);
  EXPECT_LE(gc.stats().syncs, 2u);
}

TEST_F(GroupCommitTest, DisabledMeansOneSyncPerRequest) {
  GroupCommitSettings settings;
  settings.enabled = false;
  GroupCommitCoordinator gc(m_store.get(), settings);
  run_durable(gc, 8, 8);
  EXPECT_EQ(gc.stats().syncs, 64u);
}

TEST_F(GroupCommitTest, GatherDelayStillCoversEveryone) {
  GroupCommitSettings settings;
  settings.max_delay_us = 200;
  GroupCommitCoordinator gc(m_store.get(), settings);
  run_durable(gc, 16, 8);
  EXPECT_LE(gc.stats().syncs, 128u);
}

TEST_F(GroupCommitTest, AppliedBatchesAreVisibleAndMergedInOrder) {
  GroupCommitSettings settings;
  settings.max_batch_ops = 3;
  GroupCommitCoordinator gc(m_store.get(), settings);
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        rocksdb::WriteBatch b;
        std::string key = KeyCodec::inode_key(static_cast<uint64_t>(t));
        b.Put(m_store->handle(Cf::kInodes), key, std::to_string(i));
        b.Put(m_store->handle(Cf::kXattrs), key, std::to_string(i));
        ASSERT_TRUE(gc.apply(&b).is_ok());
        // Our own latest value is visible immediately, in both families.
        auto v = m_store->get(Cf::kInodes, key);
        auto x = m_store->get(Cf::kXattrs, key);
        ASSERT_EQ(**v, std::to_string(i));
        ASSERT_EQ(**x, std::to_string(i));
      }
    });
  }
  for (auto& th : ts) th.join();
  auto s = gc.stats();
  EXPECT_EQ(s.batches, 3200u);
  EXPECT_EQ(s.ops, 6400u);
  EXPECT_LE(s.writes, s.batches);
}

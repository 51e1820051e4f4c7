// Metrics: histogram buckets and quantiles, the MetricSet JSON round trip,
// the Prometheus exposition format, and that docs/observability.md lists
// every catalogued metric.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "src/common/histogram.h"
#include "src/control/metric_catalog.h"
#include "src/control/metric_format.h"
#include "src/control/metric_set.h"

namespace dynamicfs {
namespace {

TEST(Histogram, PlacesObservationsInTheirBuckets) {
  Histogram h;
  h.observe_ns(1);               // <= 10 us
  h.observe_ns(10'000);          // <= 10 us (bounds are inclusive)
  h.observe_ns(10'001);          // <= 25 us
  h.observe_ns(20'000'000'000);  // beyond 10 s: +Inf
  HistogramSnapshot s = h.snapshot();
  ASSERT_EQ(s.counts.size(), s.bounds.size() + 1);
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.counts[0], 2u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts.back(), 1u);
  EXPECT_NEAR(s.sum, 20.000020002, 1e-9);
}

TEST(Histogram, QuantilesInterpolateWithinTheBucket) {
  Histogram h;
  for (int i = 0; i < 100; ++i) h.observe_ns(30'000);  // all in (25 us, 50 us]
  HistogramSnapshot s = h.snapshot();
  double p50 = s.quantile(0.5), p99 = s.quantile(0.99);
  EXPECT_GT(p50, 25e-6);
  EXPECT_LE(p50, 50e-6);
  EXPECT_GE(p99, p50);
  EXPECT_LE(p99, 50e-6);
  EXPECT_EQ(HistogramSnapshot{}.quantile(0.5), 0.0);
}

TEST(Histogram, QuantileSeparatesFastAndSlowObservations) {
  Histogram h;
  for (int i = 0; i < 98; ++i) h.observe_ns(5'000);       // fast
  for (int i = 0; i < 2; ++i) h.observe_ns(300'000'000);  // slow
  HistogramSnapshot s = h.snapshot();
  EXPECT_LE(s.quantile(0.5), 10e-6);
  EXPECT_GT(s.quantile(0.995), 250e-3);
}

TEST(Histogram, MinusGivesTheObservationsInBetween) {
  Histogram h;
  h.observe_ns(5'000);
  HistogramSnapshot before = h.snapshot();
  h.observe_ns(2'000'000);
  h.observe_ns(2'000'000);
  HistogramSnapshot d = h.snapshot().minus(before);
  EXPECT_EQ(d.count, 2u);
  EXPECT_EQ(d.counts[0], 0u);
  EXPECT_NEAR(d.sum, 0.004, 1e-9);
}

TEST(Histogram, ConcurrentObserversLoseNothing) {
  Histogram h;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < kEach; ++i) h.observe_ns(static_cast<uint64_t>(t + 1) * 1'000'000);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.snapshot().count, static_cast<uint64_t>(kThreads * kEach));
}

MetricSet sample_set() {
  MetricSet m;
  m.add("inodes", {}, 42);
  m.add("io_queue_length", {{"disk", "0"}, {"class", "write"}}, 3);
  m.add("fuse_ops_total", {{"op", "read"}}, 7);
  Histogram h;
  h.observe_ns(30'000);
  h.observe_ns(3'000'000);
  m.add_histogram("fuse_op_latency_seconds", {{"op", "read"}}, h.snapshot());
  m.add("lock_acquisitions", {}, 9);
  return m;
}

TEST(MetricSet, RejectsNamesOutsideTheCatalog) {
  MetricSet m;
  m.add("no_such_metric", {}, 1);
  m.add_histogram("inodes", {}, {});  // a gauge, not a histogram
  EXPECT_TRUE(m.samples("no_such_metric").empty());
  EXPECT_TRUE(m.samples("inodes").empty());
}

TEST(MetricSet, LabelsMatchInAnyOrder) {
  MetricSet m = sample_set();
  EXPECT_EQ(m.value("io_queue_length", {{"class", "write"}, {"disk", "0"}}), 3.0);
  EXPECT_EQ(m.value("io_queue_length", {{"disk", "0"}, {"class", "write"}}), 3.0);
  EXPECT_FALSE(m.value("io_queue_length", {{"disk", "1"}, {"class", "write"}}).has_value());
}

TEST(MetricSet, JsonRoundTripKeepsEverySample) {
  MetricSet m = sample_set();
  nlohmann::json j = m.to_json();
  EXPECT_EQ(j["inodes"]["type"], "gauge");
  EXPECT_EQ(j["fuse_op_latency_seconds"]["samples"][0]["count"], 2);
  auto back = MetricSet::from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->value("inodes"), 42.0);
  EXPECT_EQ(back->value("fuse_ops_total", {{"op", "read"}}), 7.0);
  const auto& h = back->samples("fuse_op_latency_seconds");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].hist.count, 2u);
  EXPECT_EQ(MetricFormat::prometheus(*back), MetricFormat::prometheus(m));
}

TEST(MetricSet, FromJsonRefusesMalformedHistograms) {
  nlohmann::json j = sample_set().to_json();
  j["fuse_op_latency_seconds"]["samples"][0]["counts"] = {1, 2};
  EXPECT_FALSE(MetricSet::from_json(j).is_ok());
  EXPECT_FALSE(MetricSet::from_json(nlohmann::json::array()).is_ok());
}

TEST(MetricFormat, PrometheusExposition) {
  std::string text = MetricFormat::prometheus(sample_set());
  EXPECT_NE(text.find("# TYPE dynamicfs_inodes gauge\ndynamicfs_inodes 42\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("dynamicfs_io_queue_length{class=\"write\",disk=\"0\"} 3\n"),
            std::string::npos);
  // Counters always end in _total, even where the design name does not.
  EXPECT_NE(text.find("# TYPE dynamicfs_lock_acquisitions_total counter\n"
                      "dynamicfs_lock_acquisitions_total 9\n"),
            std::string::npos);
  // Histogram buckets are cumulative and end with +Inf, _sum and _count.
  EXPECT_NE(text.find("dynamicfs_fuse_op_latency_seconds_bucket{op=\"read\",le=\"5e-05\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("dynamicfs_fuse_op_latency_seconds_bucket{op=\"read\",le=\"0.005\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("dynamicfs_fuse_op_latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("dynamicfs_fuse_op_latency_seconds_count{op=\"read\"} 2\n"),
            std::string::npos);
  // Every catalogued metric has HELP and TYPE, even without samples.
  for (const auto& def : MetricCatalog::all()) {
    EXPECT_NE(text.find("# HELP " + MetricCatalog::prometheus_name(def) + " "), std::string::npos)
        << def.name;
  }
}

TEST(MetricFormat, EscapesLabelValues) {
  MetricSet m;
  m.add("space_bytes", {{"disk", "a\"b\\c\nd"}, {"kind", "used"}}, 1);
  EXPECT_NE(MetricFormat::prometheus(m).find("disk=\"a\\\"b\\\\c\\nd\""), std::string::npos);
}

TEST(MetricFormat, TextListsEveryGroupAndHidesIdleLabelledSamples) {
  MetricSet m = sample_set();
  m.add("fuse_ops_total", {{"op", "write"}}, 0);
  std::string text = MetricFormat::text(m);
  for (auto g : MetricCatalog::groups()) {
    EXPECT_NE(text.find(std::string(g) + "\n"), std::string::npos) << g;
  }
  EXPECT_NE(text.find("fuse_ops_total{op=\"read\"}"), std::string::npos);
  EXPECT_EQ(text.find("fuse_ops_total{op=\"write\"}"), std::string::npos);
  EXPECT_NE(text.find("(1 more at zero)"), std::string::npos);
}

TEST(MetricFormat, HumanUnits) {
  EXPECT_EQ(MetricFormat::seconds(0.000123), "123us");
  EXPECT_EQ(MetricFormat::seconds(0.25), "250.0ms");
  EXPECT_EQ(MetricFormat::seconds(3), "3.00s");
  EXPECT_EQ(MetricFormat::bytes(1536), "1.5 KiB");
  EXPECT_EQ(MetricFormat::bytes(512), "512 B");
}

TEST(MetricCatalog, NamesAreUniqueSnakeCaseAndGrouped) {
  std::set<std::string_view> seen;
  const auto& groups = MetricCatalog::groups();
  for (const auto& def : MetricCatalog::all()) {
    EXPECT_TRUE(seen.insert(def.name).second) << "duplicate " << def.name;
    for (char c : def.name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9'));
    EXPECT_NE(std::find(groups.begin(), groups.end(), def.group), groups.end()) << def.name;
    EXPECT_FALSE(def.help.empty()) << def.name;
    bool ends_total = def.name.ends_with("_total");
    if (def.type != MetricType::kCounter) {
      EXPECT_FALSE(ends_total) << def.name;
    }
  }
  // The names the design card promises.
  for (const char* n :
       {"fuse_ops_total", "fuse_op_latency_seconds", "lock_acquisitions", "lock_contention_ratio",
        "group_commits_total", "avg_group_commit_ops", "group_commit_latency_seconds",
        "io_queue_length", "io_ops_total", "io_bytes_total", "io_coalesced_writes_total",
        "checksum_errors_total", "repairs_total", "disk_state", "space_bytes",
        "replication_bytes_total", "replication_peers", "replication_progress"}) {
    EXPECT_NE(MetricCatalog::find(n), nullptr) << n;
  }
}

TEST(MetricCatalog, DocumentedInObservabilityGuide) {
  std::ifstream in(std::string(DFS_SOURCE_DIR) + "/docs/observability.md");
  ASSERT_TRUE(in.good()) << "docs/observability.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const auto& def : MetricCatalog::all()) {
    EXPECT_NE(doc.find("`" + std::string(def.name) + "`"), std::string::npos)
        << def.name << " is not documented in docs/observability.md";
  }
}

}  // namespace
}  // namespace dynamicfs

// The text views of control replies: `dynamicfs locate` totals bytes per
// disk class (stripe units by unit size), `snapshot list` shows every
// snapshot and pending deletes, and a policy describes itself on a volume.
#include <gtest/gtest.h>

#include <string>

#include "src/control/extent_map_view.h"
#include "src/control/snapshot_list_view.h"
#include "src/fs/data_policy.h"

using namespace dynamicfs;
using nlohmann::json;

TEST(ExtentMapView, CountsCopiesPerClassAndListsEveryExtent) {
  json extents = json::array();
  extents.push_back({{"file_offset", 0},
                     {"length", 8192},
                     {"copies",
                      {{{"disk", 0}, {"offset", 1048576}, {"class", "ssd"}},
                       {{"disk", 1}, {"offset", 2097152}, {"class", "hdd"}}}}});
  extents.push_back({{"file_offset", 8192},
                     {"length", 65536},
                     {"ec", "2+1"},
                     {"unit_bytes", 32768},
                     {"copies",
                      {{{"disk", 0}, {"offset", 0}, {"class", "hdd"}},
                       {{"disk", 1}, {"offset", 0}, {"class", "hdd"}},
                       {{"disk", 2}, {"offset", 4096}, {"class", "ssd"}}}}});
  const std::string text = ExtentMapView::render("/mnt/f", extents);
  // ssd: 8 KiB copy + one 32 KiB unit; hdd: 8 KiB copy + two 32 KiB units.
  EXPECT_NE(text.find("/mnt/f: 2 extents, 72.0 KiB; copies on ssd 40.0 KiB, on hdd 72.0 KiB"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" 0:ssd@1048576 1:hdd@2097152"), std::string::npos) << text;
  EXPECT_NE(text.find(" ec 2+1: 0:hdd@0 1:hdd@0 2:ssd@4096"), std::string::npos) << text;
}

TEST(SnapshotListView, ShowsEachSnapshotAndPendingDeletes) {
  json reply = {{"snapshots",
                 {{{"name", "monday"},
                   {"created_ns", int64_t{0}},
                   {"referenced_bytes", 1 << 20},
                   {"unique_bytes", 0}}}},
                {"deletes_pending", 2}};
  const std::string text = SnapshotListView::render(reply);
  EXPECT_EQ(text.find("NAME"), 0u);
  EXPECT_NE(text.find("monday"), std::string::npos);
  EXPECT_NE(text.find(SnapshotListView::local_time(0)), std::string::npos);
  EXPECT_NE(text.find("1.0 MiB"), std::string::npos) << text;
  EXPECT_NE(text.find("(2 deleted snapshot(s) still giving space back)"), std::string::npos);
  reply["deletes_pending"] = 0;
  EXPECT_EQ(SnapshotListView::render(reply).find("deleted snapshot"), std::string::npos);
}

TEST(DataPolicy, DescribesItselfOnAVolume) {
  EXPECT_EQ(DataPolicy{}.describe(2), "replicas 2 (the volume's)");
  EXPECT_EQ(DataPolicy::parse("replicas 3").value().describe(2), "replicas 3");
  // 4 data units of at least 4 blocks each: pieces under 64 KiB stay
  // replicated, with m + 1 copies.
  EXPECT_EQ(DataPolicy::parse("ec 4+2").value().describe(2),
            "ec 4+2 (pieces under 64 KiB: replicas 3)");
}

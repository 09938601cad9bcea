#include "etrnd/delivery/mx_list.h"

#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::delivery {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(MxListTest, OrdersByPreference) {
  std::mt19937_64 rng(1);
  const MxPlan plan =
      PlanMxDelivery("d.test", {{30, "c.d.test"}, {10, "a.d.test"}, {20, "b.d.test"}}, "", rng);
  EXPECT_EQ(plan.kind, MxPlan::kHosts);
  EXPECT_THAT(plan.hosts, ElementsAre("a.d.test", "b.d.test", "c.d.test"));
}

TEST(MxListTest, ShufflesOnlyAmongEqualPreferences) {
  std::set<std::vector<std::string>> orders;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    std::mt19937_64 rng(seed);
    const MxPlan plan = PlanMxDelivery(
        "d.test", {{10, "x.test"}, {5, "first.test"}, {10, "y.test"}, {10, "z.test"}}, "", rng);
    ASSERT_EQ(plan.hosts.size(), 4u);
    EXPECT_EQ(plan.hosts[0], "first.test");
    EXPECT_THAT(std::vector<std::string>(plan.hosts.begin() + 1, plan.hosts.end()),
                UnorderedElementsAre("x.test", "y.test", "z.test"));
    orders.insert(plan.hosts);
  }
  EXPECT_GT(orders.size(), 1u);  // the shuffle does shuffle
}

TEST(MxListTest, SameSeedSameOrder) {
  std::mt19937_64 rng1(7), rng2(7);
  const std::vector<MxRecord> records = {{10, "x.test"}, {10, "y.test"}, {10, "z.test"}};
  EXPECT_EQ(PlanMxDelivery("d.test", records, "", rng1).hosts,
            PlanMxDelivery("d.test", records, "", rng2).hosts);
}

TEST(MxListTest, NoMxFallsBackToTheDomainItself) {
  std::mt19937_64 rng(1);
  const MxPlan plan = PlanMxDelivery("Mail.D.Test.", {}, "", rng);
  EXPECT_EQ(plan.kind, MxPlan::kHosts);
  EXPECT_THAT(plan.hosts, ElementsAre("mail.d.test"));
}

TEST(MxListTest, NullMxIsUndeliverable) {
  std::mt19937_64 rng(1);
  const MxPlan plan = PlanMxDelivery("d.test", {{0, "."}}, "", rng);
  EXPECT_EQ(plan.kind, MxPlan::kNullMx);
  EXPECT_THAT(plan.hosts, IsEmpty());
  EXPECT_EQ(kNullMxReply.substr(0, 3), "556");
}

TEST(MxListTest, NullMxBesideRealRecordsIsIgnored) {
  std::mt19937_64 rng(1);
  const MxPlan plan = PlanMxDelivery("d.test", {{0, "."}, {10, "mx.d.test"}}, "", rng);
  EXPECT_EQ(plan.kind, MxPlan::kHosts);
  EXPECT_THAT(plan.hosts, ElementsAre("mx.d.test"));
}

TEST(MxListTest, BackupMxDropsItselfAndWorse) {
  std::mt19937_64 rng(1);
  const MxPlan plan = PlanMxDelivery(
      "d.test",
      {{10, "primary.d.test"}, {20, "Relay.Test."}, {20, "other-backup.test"}, {30, "last.test"}},
      "relay.test", rng);
  EXPECT_EQ(plan.kind, MxPlan::kHosts);
  EXPECT_THAT(plan.hosts, ElementsAre("primary.d.test"));
}

TEST(MxListTest, LocalIsBestMx) {
  std::mt19937_64 rng(1);
  const MxPlan plan =
      PlanMxDelivery("d.test", {{10, "relay.test"}, {20, "other.test"}}, "relay.test", rng);
  EXPECT_EQ(plan.kind, MxPlan::kLocalIsBest);
}

TEST(MxListTest, DropsDuplicatesAndBoundsTheList) {
  std::mt19937_64 rng(1);
  std::vector<MxRecord> records = {{10, "a.test"}, {20, "A.test."}};
  for (int i = 0; i < 20; ++i) records.push_back({30, "h" + std::to_string(i) + ".test"});
  const MxPlan plan = PlanMxDelivery("d.test", records, "", rng);
  ASSERT_EQ(plan.hosts.size(), kMxHostsMax);
  EXPECT_EQ(plan.hosts[0], "a.test");
  EXPECT_NE(plan.hosts[1], "a.test");
}

}  // namespace
}  // namespace etrnd::delivery

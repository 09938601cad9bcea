#include "etrnd/spool/compaction_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace etrnd::spool {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1000);

SegmentUsage Usage(uint64_t id, uint64_t live, uint64_t total,
                   absl::Time sealed_at = absl::FromUnixSeconds(0)) {
  return SegmentUsage{SegmentKey{0, id}, total, live, live > 0 ? 1u : 0u, sealed_at};
}

bool None(SegmentKey) { return false; }

TEST(CompactionPolicyTest, CandidateBelowTheLiveFraction) {
  const CompactionPolicy policy{.live_percent_max = 25, .min_age = absl::Seconds(2)};
  EXPECT_TRUE(IsCompactionCandidate(Usage(1, 249, 1000), policy, kNow));
  EXPECT_FALSE(IsCompactionCandidate(Usage(1, 250, 1000), policy, kNow));
  EXPECT_FALSE(IsCompactionCandidate(Usage(1, 0, 1000), policy, kNow));  // GC's job
  EXPECT_FALSE(IsCompactionCandidate(Usage(1, 10, 0), policy, kNow));
}

TEST(CompactionPolicyTest, FreshlySealedSegmentsWait) {
  const CompactionPolicy policy{.live_percent_max = 25, .min_age = absl::Seconds(2)};
  EXPECT_FALSE(IsCompactionCandidate(Usage(1, 1, 1000, kNow - absl::Seconds(1)), policy, kNow));
  EXPECT_TRUE(IsCompactionCandidate(Usage(1, 1, 1000, kNow - absl::Seconds(2)), policy, kNow));
}

TEST(CompactionPolicyTest, ZeroPercentNeverCompacts) {
  const CompactionPolicy policy{.live_percent_max = 0, .min_age = absl::ZeroDuration()};
  EXPECT_FALSE(IsCompactionCandidate(Usage(1, 1, 1000), policy, kNow));
}

TEST(CompactionPolicyTest, ChoosesTheSmallestLiveFraction) {
  const CompactionPolicy policy;
  const std::vector<SegmentUsage> sealed = {Usage(1, 200, 1000), Usage(2, 10, 1000),
                                            Usage(3, 5, 100), Usage(4, 900, 1000)};
  EXPECT_EQ(ChooseCompactionVictim(sealed, policy, kNow, None), (SegmentKey{0, 2}));
}

TEST(CompactionPolicyTest, TiesGoToTheOldestSegment) {
  const CompactionPolicy policy;
  const std::vector<SegmentUsage> sealed = {Usage(9, 10, 1000), Usage(3, 10, 1000),
                                            Usage(5, 10, 1000)};
  EXPECT_EQ(ChooseCompactionVictim(sealed, policy, kNow, None), (SegmentKey{0, 3}));
}

TEST(CompactionPolicyTest, ExcludedAndUnqualifiedAreSkipped) {
  const CompactionPolicy policy;
  const std::vector<SegmentUsage> sealed = {Usage(1, 10, 1000), Usage(2, 600, 1000)};
  auto exclude_first = [](SegmentKey key) { return key.segment_id == 1; };
  EXPECT_EQ(ChooseCompactionVictim(sealed, policy, kNow, exclude_first), std::nullopt);
  EXPECT_EQ(ChooseCompactionVictim({}, policy, kNow, None), std::nullopt);
}

}  // namespace
}  // namespace etrnd::spool

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

// The walk in slices picks what one choice over every segment picks, and
// takes one step per slice.
TEST(CompactionPolicyTest, WalkInSlicesChoosesLikeOneChoice) {
  const CompactionPolicy policy;
  SegmentTracker tracker;
  constexpr uint64_t kSegments = 50;
  for (uint64_t id = 1; id <= kSegments; ++id) {
    // Live fractions 20%..: the smallest (id 37, 3%) and a tie (id 41).
    const uint32_t live = id == 37 || id == 41 ? 30 : 200 + static_cast<uint32_t>(id);
    tracker.AddMessage(RecordLocation{0, id, 16, live}, 1);
    tracker.NoteFileBytes(SegmentKey{0, id}, 1000);
    tracker.Seal(SegmentKey{0, id}, absl::FromUnixSeconds(0));
  }
  const std::optional<SegmentKey> expected =
      ChooseCompactionVictim(tracker.SealedUsage(), policy, kNow, None);
  ASSERT_EQ(expected, (SegmentKey{0, 37}));
  CompactionVictimWalk walk;
  size_t steps = 0;
  CompactionVictimWalk::Step step;
  do {
    step = walk.Next(tracker, policy, kNow, None, /*slice=*/8);
    ++steps;
  } while (!step.pass_done);
  EXPECT_EQ(steps, (kSegments + 7) / 8);
  ASSERT_TRUE(step.victim.has_value());
  EXPECT_EQ(step.victim->segment, *expected);
  EXPECT_EQ(step.victim->live_bytes, 30u);
  EXPECT_EQ(step.victim->total_bytes, 1000u);
  // The next pass starts over; excluded segments lose.
  auto no_37 = [](SegmentKey key) { return key.segment_id == 37; };
  do {
    step = walk.Next(tracker, policy, kNow, no_37, 8);
  } while (!step.pass_done);
  EXPECT_EQ(step.victim->segment, (SegmentKey{0, 41}));
}

TEST(CompactionPolicyTest, WalkForgetsAVictimRemovedDuringThePass) {
  const CompactionPolicy policy;
  SegmentTracker tracker;
  for (uint64_t id = 1; id <= 4; ++id) {
    tracker.AddMessage(RecordLocation{0, id, 16, id == 1 ? 10u : 900u}, 1);
    tracker.NoteFileBytes(SegmentKey{0, id}, 1000);
    tracker.Seal(SegmentKey{0, id}, absl::FromUnixSeconds(0));
  }
  CompactionVictimWalk walk;
  EXPECT_FALSE(walk.Next(tracker, policy, kNow, None, 2).pass_done);  // best: 1
  tracker.FinishRecipient(RecordLocation{0, 1, 16, 10});              // GC takes it
  const CompactionVictimWalk::Step step = walk.Next(tracker, policy, kNow, None, 2);
  EXPECT_TRUE(step.pass_done);
  EXPECT_FALSE(step.victim.has_value());
}

}  // namespace
}  // namespace etrnd::spool

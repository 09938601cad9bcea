#include "etrnd/spool/segment_tracker.h"

#include "gtest/gtest.h"

namespace etrnd::spool {
namespace {

TEST(SegmentTrackerTest, DeletableOnlyWhenSealedAndEmpty) {
  SegmentTracker tracker;
  const SegmentKey a{0, 1}, b{0, 2};
  tracker.AddLiveRecipients(a, 2);
  tracker.AddLiveRecipients(b, 1);
  tracker.FinishRecipient(b);
  EXPECT_TRUE(tracker.TakeDeletable().empty());  // b is still the current segment
  tracker.Seal(a);
  tracker.FinishRecipient(a);
  EXPECT_TRUE(tracker.TakeDeletable().empty());
  EXPECT_EQ(tracker.LiveRecipients(a), 1u);
  tracker.FinishRecipient(a);
  EXPECT_EQ(tracker.TakeDeletable(), std::vector<SegmentKey>{a});
  EXPECT_FALSE(tracker.Exists(a));
  tracker.Seal(b);
  EXPECT_EQ(tracker.TakeDeletable(), std::vector<SegmentKey>{b});
  EXPECT_EQ(tracker.segment_count(), 0u);
}

TEST(SegmentTrackerTest, SealedEmptySegmentIsDeletableAtOnce) {
  SegmentTracker tracker;
  tracker.Seal(SegmentKey{2, 9});
  EXPECT_EQ(tracker.TakeDeletable(), (std::vector<SegmentKey>{SegmentKey{2, 9}}));
  EXPECT_TRUE(tracker.TakeDeletable().empty());
}

TEST(SegmentTrackerDeathTest, ExtraFinishCrashesInsteadOfUnderflowing) {
  SegmentTracker tracker;
  const SegmentKey a{0, 1};
  tracker.AddLiveRecipients(a, 1);
  tracker.FinishRecipient(a);
  EXPECT_EQ(tracker.LiveRecipients(a), 0u);
  EXPECT_DEATH(tracker.FinishRecipient(a), "live_recipients");
}

}  // namespace
}  // namespace etrnd::spool

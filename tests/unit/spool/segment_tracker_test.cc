#include "etrnd/spool/segment_tracker.h"

#include "gtest/gtest.h"

namespace etrnd::spool {
namespace {

RecordLocation At(SegmentKey segment, uint64_t offset, uint32_t length = 100) {
  return RecordLocation{segment.core, segment.segment_id, offset, length};
}

TEST(SegmentTrackerTest, DeletableOnlyWhenSealedAndEmpty) {
  SegmentTracker tracker;
  const SegmentKey a{0, 1}, b{0, 2};
  tracker.AddMessage(At(a, 16), 2);
  tracker.AddMessage(At(b, 16), 1);
  tracker.FinishRecipient(At(b, 16));
  EXPECT_TRUE(tracker.TakeDeletable().empty());  // b is still the current segment
  tracker.Seal(a);
  tracker.FinishRecipient(At(a, 16));
  EXPECT_TRUE(tracker.TakeDeletable().empty());
  EXPECT_EQ(tracker.LiveRecipients(a), 1u);
  tracker.FinishRecipient(At(a, 16));
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
  tracker.AddMessage(At(a, 16), 1);
  tracker.FinishRecipient(At(a, 16));
  EXPECT_EQ(tracker.LiveRecipients(a), 0u);
  EXPECT_DEATH(tracker.FinishRecipient(At(a, 16)), "live_recipients");
  EXPECT_DEATH(tracker.FinishRecipient(At(a, 999)), "message != nullptr");  // no record there
}

TEST(SegmentTrackerTest, LiveBytesFollowMessagesWithALiveRecipient) {
  SegmentTracker tracker;
  const SegmentKey a{1, 4};
  tracker.AddMessage(At(a, 16, 1000), 2);
  tracker.AddMessage(At(a, 1016, 500), 1);
  tracker.AddMessage(At(a, 1516, 300), 0);  // recovered with nothing live
  EXPECT_EQ(tracker.LiveBytes(a), 1500u);
  tracker.FinishRecipient(At(a, 16, 1000));
  EXPECT_EQ(tracker.LiveBytes(a), 1500u);  // one recipient still live
  tracker.FinishRecipient(At(a, 16, 1000));
  EXPECT_EQ(tracker.LiveBytes(a), 500u);
  EXPECT_EQ(tracker.LiveMessages(a), (std::vector<RecordLocation>{At(a, 1016, 500)}));
  tracker.Seal(a, absl::FromUnixSeconds(100));
  const std::vector<SegmentUsage> usage = tracker.SealedUsage();
  ASSERT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage[0].segment, a);
  EXPECT_EQ(usage[0].total_bytes, 1800u);
  EXPECT_EQ(usage[0].live_bytes, 500u);
  EXPECT_EQ(usage[0].live_messages, 1u);
  EXPECT_EQ(usage[0].sealed_at, absl::FromUnixSeconds(100));
}

TEST(SegmentTrackerTest, RecoveredFileSizeCountsDeadRecords) {
  SegmentTracker tracker;
  const SegmentKey a{0, 7};
  tracker.AddMessage(At(a, 5000, 200), 1);
  tracker.NoteFileBytes(a, 1 << 20);
  tracker.Seal(a);
  ASSERT_EQ(tracker.SealedUsage().size(), 1u);
  EXPECT_EQ(tracker.SealedUsage()[0].total_bytes, 1u << 20);
  EXPECT_EQ(tracker.SealedUsage()[0].live_bytes, 200u);
}

TEST(SegmentTrackerTest, OutOfOrderMessagesAreFound) {
  SegmentTracker tracker;
  const SegmentKey a{0, 1};
  tracker.AddMessage(At(a, 300), 1);
  tracker.AddMessage(At(a, 100), 1);
  tracker.AddMessage(At(a, 200), 1);
  tracker.FinishRecipient(At(a, 100));
  EXPECT_EQ(tracker.LiveMessages(a), (std::vector<RecordLocation>{At(a, 200), At(a, 300)}));
  EXPECT_EQ(tracker.LiveRecipients(a), 2u);
}

TEST(SegmentTrackerTest, FullyDeadAndCurrentSegmentsAreNoCandidates) {
  SegmentTracker tracker;
  const SegmentKey sealed{0, 1}, current{0, 2};
  tracker.AddMessage(At(sealed, 16), 1);
  tracker.AddMessage(At(current, 16), 1);
  tracker.Seal(sealed);
  EXPECT_EQ(tracker.SealedUsage().size(), 1u);
  tracker.FinishRecipient(At(sealed, 16));
  EXPECT_TRUE(tracker.SealedUsage().empty());  // deletable instead
}

}  // namespace
}  // namespace etrnd::spool

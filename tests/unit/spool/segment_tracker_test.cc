#include "etrnd/spool/segment_tracker.h"

#include <optional>
#include <vector>

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

// Compaction's victim: its original may be finished (an operator's delete)
// while its copy's fate is not durable yet; the segment must stay on disk.
TEST(SegmentTrackerTest, APinnedSegmentStaysUntilUnpinned) {
  SegmentTracker tracker;
  const SegmentKey a{0, 1};
  tracker.AddMessage(At(a, 16), 1);
  tracker.Seal(a);
  tracker.Pin(a);
  tracker.Pin(a);
  tracker.FinishRecipient(At(a, 16));
  EXPECT_TRUE(tracker.TakeDeletable().empty());
  EXPECT_TRUE(tracker.Exists(a));
  EXPECT_TRUE(tracker.SealedUsage().empty());  // nothing live: no candidate
  tracker.Unpin(a);
  EXPECT_TRUE(tracker.TakeDeletable().empty());
  tracker.Unpin(a);
  EXPECT_EQ(tracker.TakeDeletable(), std::vector<SegmentKey>{a});
  EXPECT_FALSE(tracker.Exists(a));
}

TEST(SegmentTrackerTest, SealedWalkVisitsEachSegmentOnceInSlices) {
  SegmentTracker tracker;
  for (uint64_t id = 1; id <= 10; ++id) {
    tracker.AddMessage(At(SegmentKey{0, id}, 16), 1);
    tracker.Seal(SegmentKey{0, id});
  }
  tracker.AddMessage(At(SegmentKey{0, 11}, 16), 1);  // current: never visited
  std::optional<SegmentKey> cursor;
  std::vector<SegmentUsage> seen;
  EXPECT_FALSE(tracker.SealedUsageAfter(&cursor, 4, &seen));
  EXPECT_EQ(seen.size(), 4u);
  // Between slices: one segment ahead of the cursor empties (removed), one
  // behind it too, and a new one is sealed ahead.
  tracker.FinishRecipient(At(SegmentKey{0, 6}, 16));
  tracker.FinishRecipient(At(SegmentKey{0, 2}, 16));
  tracker.AddMessage(At(SegmentKey{0, 12}, 16), 1);
  tracker.Seal(SegmentKey{0, 12});
  EXPECT_FALSE(tracker.SealedUsageAfter(&cursor, 4, &seen));
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_TRUE(tracker.SealedUsageAfter(&cursor, 4, &seen));
  EXPECT_FALSE(cursor.has_value());  // the next walk starts over
  std::vector<uint64_t> ids;
  for (const SegmentUsage& usage : seen) ids.push_back(usage.segment.segment_id);
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3, 4, 5, 7, 8, 9, 10, 12}));
}

TEST(SegmentTrackerTest, SealedWalkSkipsSegmentsWithNothingLive) {
  SegmentTracker tracker;
  tracker.AddMessage(At(SegmentKey{0, 1}, 16), 1);
  tracker.Seal(SegmentKey{0, 1});
  tracker.AddMessage(At(SegmentKey{1, 1}, 16), 1);
  tracker.Seal(SegmentKey{1, 1});
  std::optional<SegmentKey> cursor;
  std::vector<SegmentUsage> seen;
  EXPECT_TRUE(tracker.SealedUsageAfter(&cursor, 100, &seen));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].segment, (SegmentKey{0, 1}));
  EXPECT_EQ(seen[1].segment, (SegmentKey{1, 1}));
  seen.clear();
  tracker.FinishRecipient(At(SegmentKey{0, 1}, 16));
  EXPECT_TRUE(tracker.SealedUsageAfter(&cursor, 100, &seen));
  EXPECT_EQ(seen.size(), 1u);
}

}  // namespace
}  // namespace etrnd::spool

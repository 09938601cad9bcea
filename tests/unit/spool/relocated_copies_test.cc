#include "etrnd/spool/relocated_copies.h"

#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "etrnd/control/control_request.h"
#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_recovery.h"
#include "gtest/gtest.h"
#include "spool_test_files.h"
#include "temp_dir.h"

namespace etrnd::spool {
namespace {

using testing::Flush;
using testing::TempDir;

// Messages and their recipients as recovery lays them out.
struct Copies {
  std::vector<RecoveredMessage> messages;
  std::vector<RecoveredRecipient> recipients;

  RecoveredMessage& operator[](size_t i) { return messages[i]; }
  bool Finished(size_t message, uint32_t index) const {
    return recipients[messages[message].first_recipient + index].finished;
  }
  void FinishAt(size_t message, uint32_t index) {
    recipients[messages[message].first_recipient + index].finished = true;
    --messages[message].live_recipients;
  }
  uint64_t Resolve(MovedRecipients* moved) {
    return ResolveRelocatedCopies(&messages, &recipients, moved);
  }
};

void Copy(Copies& copies, uint64_t segment, uint64_t queue_id,
          const std::vector<std::string>& recipients, bool relocated) {
  RecoveredMessage message;
  message.location = RecordLocation{0, segment, 16, 100};
  message.queue_id = queue_id;
  message.first_recipient = copies.recipients.size();
  message.recipient_count = static_cast<uint32_t>(recipients.size());
  message.live_recipients = message.recipient_count;
  message.relocated = relocated;
  for (const std::string& address : recipients) {
    copies.recipients.push_back(
        RecoveredRecipient{0, false, static_cast<uint32_t>(absl::HashOf(address))});
  }
  copies.messages.push_back(message);
}

TEST(RelocatedCopiesTest, NothingRelocatedChangesNothing) {
  Copies messages;
  Copy(messages, 1, 160, {"a@x"}, false);
  Copy(messages, 2, 160, {"a@x"}, false);
  MovedRecipients moved;
  EXPECT_EQ(messages.Resolve(&moved), 0u);  // only flagged copies count
  EXPECT_EQ(messages[0].live_recipients, 1u);
  EXPECT_EQ(messages[1].live_recipients, 1u);
}

TEST(RelocatedCopiesTest, BothLiveKeepsTheNewestCopy) {
  // Crash after the copy was durable, before the kMoved completions.
  Copies messages;
  Copy(messages, 1, 160, {"a@held.example", "b@sink.example", "c@held.example"}, false);
  Copy(messages, 2, 176, {"z@other.example"}, false);
  Copy(messages, 3, 160, {"a@held.example", "c@held.example"}, true);
  messages.FinishAt(0, 1);  // delivered before the move
  MovedRecipients moved;
  EXPECT_EQ(messages.Resolve(&moved), 2u);
  EXPECT_EQ(messages[0].live_recipients, 0u);
  EXPECT_EQ(messages[1].live_recipients, 1u);
  EXPECT_EQ(messages[2].live_recipients, 2u);
  // The compacted log says the old copy's recipients moved, not delivered.
  EXPECT_TRUE(moved.contains(MovedRecipient{0, 0}));
  EXPECT_TRUE(moved.contains(MovedRecipient{0, 2}));
  EXPECT_FALSE(moved.contains(MovedRecipient{0, 1}));
}

TEST(RelocatedCopiesTest, DeliveredInAnyCopyIsFinished) {
  // The original's recipient was delivered while the copy was written (the
  // owner refused the swap) and the copy's kMoved was not durable yet.
  Copies messages;
  Copy(messages, 1, 160, {"a@x", "b@y"}, false);
  Copy(messages, 4, 160, {"a@x", "b@y"}, true);
  messages.FinishAt(0, 0);
  MovedRecipients moved;
  messages.Resolve(&moved);
  EXPECT_EQ(messages[0].live_recipients, 0u);
  EXPECT_EQ(messages[1].live_recipients, 1u);
  EXPECT_TRUE(messages.Finished(1, 0));
  EXPECT_FALSE(messages.Finished(1, 1));
}

TEST(RelocatedCopiesTest, RefusedSwapKeepsTheOriginal) {
  // The owner refused the swap: the copy's recipient has a durable kMoved,
  // the original is still the live one.
  Copies messages;
  Copy(messages, 1, 160, {"a@x"}, false);
  Copy(messages, 4, 160, {"a@x"}, true);
  messages.FinishAt(1, 0);
  MovedRecipients moved = {MovedRecipient{1, 0}};
  messages.Resolve(&moved);
  EXPECT_EQ(messages[0].live_recipients, 1u);
  EXPECT_EQ(messages[1].live_recipients, 0u);
}

// etrnctl delete racing a move (segment_compactor.cc, relocation.cc): what
// recovery finds after a kill -9 at each step, and in each the deleted
// recipient stays finished in every copy.
TEST(RelocatedCopiesTest, DeleteWinsAtEveryCrashPoint) {
  // Killed after the copy and the delete were durable, before the swap (or
  // its refusal's kMoved): the original says deleted, the copy is live.
  {
    Copies messages;
    Copy(messages, 1, 160, {"a@x", "b@x"}, false);
    Copy(messages, 4, 160, {"a@x", "b@x"}, true);
    messages.FinishAt(0, 0);
    messages.FinishAt(0, 1);
    MovedRecipients moved;
    messages.Resolve(&moved);
    EXPECT_EQ(messages[0].live_recipients, 0u);
    EXPECT_EQ(messages[1].live_recipients, 0u);
    EXPECT_TRUE(moved.empty());  // the compacted log says done, not moved
  }
  // The swap was refused (the delete had finished the original first): the
  // copy's recipients got kMoved.
  {
    Copies messages;
    Copy(messages, 1, 160, {"a@x"}, false);
    Copy(messages, 4, 160, {"a@x"}, true);
    messages.FinishAt(0, 0);
    messages.FinishAt(1, 0);
    MovedRecipients moved = {MovedRecipient{1, 0}};
    messages.Resolve(&moved);
    EXPECT_EQ(messages[0].live_recipients, 0u);
    EXPECT_EQ(messages[1].live_recipients, 0u);
    EXPECT_TRUE(moved.empty());
  }
  // The swap came first and the delete found the copy: the original says
  // moved (or nothing yet, killed before its kMoved), the copy deleted.
  for (bool original_moved : {true, false}) {
    Copies messages;
    Copy(messages, 1, 160, {"a@x"}, false);
    Copy(messages, 4, 160, {"a@x"}, true);
    MovedRecipients moved;
    if (original_moved) {
      messages.FinishAt(0, 0);
      moved.insert(MovedRecipient{0, 0});
    }
    messages.FinishAt(1, 0);
    messages.Resolve(&moved);
    EXPECT_EQ(messages[0].live_recipients, 0u) << original_moved;
    EXPECT_EQ(messages[1].live_recipients, 0u) << original_moved;
  }
}

TEST(RelocatedCopiesTest, ChainKeepsTheNewestLiveCopy) {
  // Moved twice; the second move's kMoved was not durable at the crash.
  Copies messages;
  Copy(messages, 1, 160, {"a@x"}, false);
  Copy(messages, 5, 160, {"a@x"}, true);
  Copy(messages, 9, 160, {"a@x"}, true);
  messages.FinishAt(0, 0);
  MovedRecipients moved = {MovedRecipient{0, 0}};
  messages.Resolve(&moved);
  EXPECT_EQ(messages[0].live_recipients, 0u);
  EXPECT_EQ(messages[1].live_recipients, 0u);
  EXPECT_EQ(messages[2].live_recipients, 1u);
}

TEST(RelocatedCopiesTest, MovedAwayEverywhereStaysLiveInTheNewest) {
  Copies messages;
  Copy(messages, 1, 160, {"a@x"}, false);
  Copy(messages, 5, 160, {"a@x"}, true);
  messages.FinishAt(0, 0);
  messages.FinishAt(1, 0);
  MovedRecipients moved = {MovedRecipient{0, 0}, MovedRecipient{1, 0}};
  messages.Resolve(&moved);
  EXPECT_EQ(messages[0].live_recipients, 0u);
  EXPECT_EQ(messages[1].live_recipients, 1u);  // at least once, never lost
}

TEST(RelocatedCopiesTest, HashCollisionInsideACopyRevivesMovedRecipients) {
  Copies messages;
  Copy(messages, 1, 160, {"a@x", "b@y"}, false);
  Copy(messages, 5, 160, {"a@x", "b@y"}, true);
  // Force a collision: the original's two recipients look alike.
  messages.recipients[1].address_hash = messages.recipients[0].address_hash;
  messages.FinishAt(0, 0);
  messages.FinishAt(0, 1);
  MovedRecipients moved = {MovedRecipient{0, 0}, MovedRecipient{0, 1}};
  EXPECT_EQ(messages.Resolve(&moved), 0u);
  // Nothing is dropped on a hash: both copies are live, kMoved forgotten.
  EXPECT_EQ(messages[0].live_recipients, 2u);
  EXPECT_EQ(messages[1].live_recipients, 2u);
  EXPECT_TRUE(moved.empty());
}

// End to end: the spool on disk after a crash between the copy and its
// kMoved completions recovers each recipient once.
TEST(RelocatedCopiesTest, RecoveryKeepsOneCopy) {
  TempDir dir;
  AppenderOptions options;
  options.spool_dir = dir.path();
  options.first_file_id = 0;
  options.file_bytes_max = 1;  // every record in a segment of its own
  auto segments = *SegmentAppender::Open(options);
  SpoolMessage original;
  original.queue_id = "0000000000A00001";
  original.arrival_unix_micros = 1234;
  original.mail_from = "s@sender.example";
  original.recipients = {"a@held.example", "b@sink.example"};
  original.data = "Subject: x\r\n\r\nbody\r\n";
  const RecordLocation first = *segments->Append(original);
  Flush(*segments);
  SpoolMessage copy = original;
  copy.recipients = {"a@held.example"};
  copy.relocated = true;
  const RecordLocation second = *segments->Append(copy);
  Flush(*segments);
  ASSERT_NE(first.segment_id, second.segment_id);
  auto completions = *CompletionAppender::Open(options);
  ASSERT_TRUE(completions
                  ->Append(SpoolCompletion{first.core, first.segment_id, first.offset, 1,
                                           RecipientOutcome::kDelivered})
                  .ok());
  Flush(*completions);
  segments.reset();
  completions.reset();

  absl::StatusOr<RecoveryResult> recovered = RecoverSpool(dir.path());
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->messages.size(), 1u);
  const RecoveredMessage& kept = recovered->messages[0];
  EXPECT_EQ(kept.location, second);
  EXPECT_TRUE(kept.relocated);
  EXPECT_EQ(kept.queue_id, 0xA00001u);
  EXPECT_EQ(kept.arrival_unix_micros, 1234);
  ASSERT_EQ(kept.recipient_count, 1u);
  EXPECT_EQ(recovered->domains[recovered->recipient(kept, 0).domain], "held.example");
  EXPECT_EQ(kept.live_recipients, 1u);
  EXPECT_EQ(recovered->stats.relocated_duplicates, 1u);
  EXPECT_EQ(recovered->stats.segments_deleted, 1u);  // the original's

  // A second start finds the same: the compacted log made it durable.
  absl::StatusOr<RecoveryResult> again = RecoverSpool(dir.path());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->messages.size(), 1u);
  EXPECT_EQ(again->messages[0].location, second);
  EXPECT_EQ(again->messages[0].live_recipients, 1u);
}

// As the spool recovery fuzzer builds it: the copy in the same segment.
TEST(RelocatedCopiesTest, CopyInTheSameSegmentWins) {
  TempDir dir;
  AppenderOptions options;
  options.spool_dir = dir.path();
  auto segments = *SegmentAppender::Open(options);
  std::vector<SpoolMessage> messages;
  for (int i = 0; i < 3; ++i) {
    SpoolMessage message;
    message.queue_id = control::FormatQueueId(0x1000 + i);
    message.mail_from = "s@example.org";
    message.recipients = {"r" + std::to_string(i) + "@example.com"};
    message.data = std::string(i == 2 ? 0 : 40 * (i + 1), 'a');
    messages.push_back(message);
  }
  messages.push_back(messages[0]);
  messages.back().relocated = true;
  RecordLocation copy;
  for (const SpoolMessage& message : messages) copy = *segments->Append(message);
  Flush(*segments);
  segments.reset();
  absl::StatusOr<RecoveryResult> recovered = RecoverSpool(dir.path());
  ASSERT_TRUE(recovered.ok());
  ASSERT_EQ(recovered->messages.size(), 3u);
  for (const RecoveredMessage& message : recovered->messages) {
    if (message.queue_id == 0x1000) {
      EXPECT_EQ(message.location, copy);
    }
  }
}

// The running server removes recovery's compacted completion log once the
// segments it points into are gone: recovery says which those are.
TEST(RelocatedCopiesTest, RecoveryNamesTheSegmentsOfItsCompactedLog) {
  TempDir dir;
  AppenderOptions options;
  options.spool_dir = dir.path();
  auto segments = *SegmentAppender::Open(options);
  SpoolMessage message;
  message.queue_id = "Q1";
  message.recipients = {"a@x.example", "b@y.example"};
  const RecordLocation location = *segments->Append(message);
  Flush(*segments);
  auto completions = *CompletionAppender::Open(options);
  ASSERT_TRUE(completions
                  ->Append(SpoolCompletion{location.core, location.segment_id, location.offset, 1,
                                           RecipientOutcome::kDelivered})
                  .ok());
  Flush(*completions);
  segments.reset();
  completions.reset();
  absl::StatusOr<RecoveryResult> recovered = RecoverSpool(dir.path());
  ASSERT_TRUE(recovered.ok());
  ASSERT_TRUE(recovered->compacted_log_id.has_value());
  EXPECT_EQ(*recovered->compacted_log_id + 1, recovered->next_completion_id);
  EXPECT_EQ(recovered->compacted_log_segments,
            std::vector<SegmentKey>{(SegmentKey{location.core, location.segment_id})});
}

TEST(RelocatedCopiesTest, MovedOutcomeRoundTrips) {
  std::string bytes;
  const SpoolCompletion moved{1, 2, 3, 4, RecipientOutcome::kMoved};
  ASSERT_GT(EncodeCompletion(moved, &bytes), 0u);
  size_t consumed = 0;
  SpoolCompletion decoded;
  ASSERT_EQ(DecodeCompletion(bytes, &consumed, &decoded), DecodeStatus::kOk);
  EXPECT_EQ(decoded, moved);
}

TEST(RelocatedCopiesTest, RelocatedFlagRoundTrips) {
  SpoolMessage message;
  message.queue_id = "Q";
  message.recipients = {"a@b"};
  message.relocated = true;
  std::string bytes;
  ASSERT_GT(EncodeMessage(message, &bytes), 0u);
  size_t consumed = 0;
  SpoolMessage decoded;
  ASSERT_EQ(DecodeMessage(bytes, &consumed, &decoded), DecodeStatus::kOk);
  EXPECT_EQ(decoded, message);
  message.relocated = false;
  bytes.clear();
  EncodeMessage(message, &bytes);
  ASSERT_EQ(DecodeMessage(bytes, &consumed, &decoded), DecodeStatus::kOk);
  EXPECT_FALSE(decoded.relocated);
}

}  // namespace
}  // namespace etrnd::spool

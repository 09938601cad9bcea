// Compaction's owner side (src/qmgr/relocation.cc) against a fake core: when
// may a message move, and when must the swap be refused so that an
// operator's delete wins over a move racing it.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/qmgr/queue_service.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "qmgr_test_harness.h"

namespace etrnd::qmgr {
namespace {

using testing::FakeCore;
using testing::QueueOnReactor;

constexpr char kHeld[] = "held.example";

using Step = std::function<void(FakeCore&, QueueService&)>;

// Runs each step in its own loop turn, a millisecond apart, so the fake's
// completion callbacks (posted) have run between two steps.
void RunSteps(const std::vector<Step>& steps) {
  QueueOptions options = testing::BaseQueueOptions("/nonexistent");
  options.max_queue_lifetime = absl::Hours(24);
  size_t next = 0;
  auto run_steps = [&](QueueOnReactor& core) {
    auto run_next_step = [&] {
      if (next == steps.size()) return true;
      steps[next++](core.fake, core.queue);
      return false;
    };
    testing::PollEveryMillisecond(core.reactor, static_cast<int>(steps.size()) + 1,
                                  "a step never ran", run_next_step, [&] { core.Stop(); });
  };
  testing::RunQueueOnReactorThread(options, absl::StrCat(kHeld, " 192.0.2.1:25 hold\n"),
                                   /*prepare_fake=*/nullptr, run_steps);
}

const spool::RecordLocation kOriginal{0, 3, 4096, 900};
const spool::RecordLocation kCopy{0, 9, 128, 800};
const int64_t kArrival = absl::ToUnixMicros(absl::Now());

void QueueTwoRecipients(FakeCore&, QueueService& queue) {
  queue.segment_tracker().AddMessage(kOriginal, 2);  // the segment core's count (core 0 too)
  queue.AddRecipients(kHeld, kOriginal, {0, 1}, kArrival, false, 42);
  ASSERT_EQ(queue.LiveForRelocation(kHeld, kOriginal, kArrival), (std::vector<uint32_t>{0, 1}));
}

std::optional<std::vector<uint32_t>> Live(QueueService& queue, const spool::RecordLocation& at) {
  return queue.LiveForRelocation(kHeld, at, kArrival);
}

// The delete's completion is written but not durable yet (the index still
// lists the recipient) when the swap comes: the swap must see it anyway.
TEST(RelocationTest, AFinishOnItsWayToDiskRefusesTheSwap) {
  bool settled = false;
  RunSteps({
      QueueTwoRecipients,
      [&](FakeCore&, QueueService& queue) {
        queue.FinishRecipient(kHeld, kOriginal, 0, spool::RecipientOutcome::kDeleted,
                              [&] { settled = true; });
        // Same turn: the completion is not durable, the index unchanged.
        EXPECT_EQ(queue.queued_recipients(), 2u);
        EXPECT_EQ(Live(queue, kOriginal), std::nullopt);
        EXPECT_FALSE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {0, 1}, {0, 1}, kArrival));
        EXPECT_EQ(queue.queued_recipients(), 2u);  // nothing moved
      },
      [&](FakeCore&, QueueService& queue) {
        EXPECT_TRUE(settled);
        EXPECT_EQ(queue.queued_recipients(), 1u);
        // Once durable, only what is left may move, and only under its
        // exact recipients.
        EXPECT_EQ(Live(queue, kOriginal), (std::vector<uint32_t>{1}));
        EXPECT_FALSE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {0, 1}, {0, 1}, kArrival));
        EXPECT_TRUE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {1}, {0}, kArrival));
        EXPECT_EQ(Live(queue, kOriginal), std::vector<uint32_t>{});
        EXPECT_EQ(Live(queue, kCopy), (std::vector<uint32_t>{0}));
      },
  });
}

// An operator's delete found the message (its scan runs over several
// turns) and has not finished it yet: nothing may move meanwhile, or it
// would finish the old location and the copy would stay queued.
TEST(RelocationTest, APausedCoreMovesNothingUntilTheTokenGoes) {
  std::shared_ptr<const void> pause;
  RunSteps({
      QueueTwoRecipients,
      [&](FakeCore&, QueueService& queue) {
        pause = queue.PauseRelocations();
        std::shared_ptr<const void> second = queue.PauseRelocations();
        EXPECT_EQ(Live(queue, kOriginal), std::nullopt);
        second.reset();
        EXPECT_EQ(Live(queue, kOriginal), std::nullopt);  // one still held
        EXPECT_FALSE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {0, 1}, {0, 1}, kArrival));
      },
      [&](FakeCore&, QueueService& queue) {
        // The delete finishes where it found the message, then lets go.
        for (uint32_t index : {0u, 1u}) {
          queue.FinishRecipient(kHeld, kOriginal, index, spool::RecipientOutcome::kDeleted,
                                [&pause] { pause.reset(); });
        }
      },
      [&](FakeCore& fake, QueueService& queue) {
        EXPECT_EQ(pause, nullptr);
        EXPECT_EQ(queue.queued_recipients(), 0u);
        // The compactor's copy is refused: its recipients get finished
        // (kMoved) by the compactor instead of being queued.
        EXPECT_EQ(Live(queue, kOriginal), std::vector<uint32_t>{});
        EXPECT_FALSE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {0, 1}, {0, 1}, kArrival));
        EXPECT_EQ(queue.queued_recipients(), 0u);
        ASSERT_EQ(fake.completions.size(), 2u);
        for (const spool::SpoolCompletion& c : fake.completions) {
          EXPECT_EQ(c.segment_id, kOriginal.segment_id);
          EXPECT_EQ(c.outcome, spool::RecipientOutcome::kDeleted);
        }
      },
  });
}

// Without a pause or a finish in flight, a move is allowed.
TEST(RelocationTest, AQuietMessageMoves) {
  RunSteps({
      QueueTwoRecipients,
      [&](FakeCore&, QueueService& queue) {
        EXPECT_TRUE(queue.SwapRelocated(kHeld, kOriginal, kCopy, {0, 1}, {0, 1}, kArrival));
        EXPECT_EQ(Live(queue, kCopy), (std::vector<uint32_t>{0, 1}));
        EXPECT_EQ(queue.queued_recipients(), 2u);
      },
  });
}

}  // namespace
}  // namespace etrnd::qmgr

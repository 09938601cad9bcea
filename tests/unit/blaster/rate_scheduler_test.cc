#include "etrnd/blaster/rate_scheduler.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

constexpr int64_t kStart = 1'000'000'000;

TEST(RateSchedulerTest, DueTimesAreFixedIntervalsFromStart) {
  RateScheduler scheduler(1000, kStart, UINT64_MAX);  // one per ms
  EXPECT_EQ(scheduler.DueNs(0), kStart);
  EXPECT_EQ(scheduler.DueNs(1), kStart + 1'000'000);
  EXPECT_EQ(scheduler.DueNs(1000), kStart + 1'000'000'000);
}

TEST(RateSchedulerTest, NothingDueBeforeStart) {
  RateScheduler scheduler(1000, kStart, UINT64_MAX);
  EXPECT_EQ(scheduler.DueCount(kStart - 1), 0u);
  int64_t due = 0;
  EXPECT_FALSE(scheduler.Take(kStart - 1, &due));
  EXPECT_EQ(scheduler.DueCount(kStart), 1u);
}

TEST(RateSchedulerTest, LateCallerGetsEveryMissedMessageWithItsOwnDueTime) {
  RateScheduler scheduler(1000, kStart, UINT64_MAX);
  // The loop stalled for 10.5 ms: 11 messages are due (0..10), none lost,
  // each keeps its intended start so its latency includes the stall.
  const int64_t now = kStart + 10'500'000;
  EXPECT_EQ(scheduler.DueCount(now), 11u);
  for (uint64_t n = 0; n < 11; ++n) {
    int64_t due = 0;
    ASSERT_TRUE(scheduler.Take(now, &due));
    EXPECT_EQ(due, kStart + static_cast<int64_t>(n) * 1'000'000);
  }
  int64_t due = 0;
  EXPECT_FALSE(scheduler.Take(now, &due));
  EXPECT_EQ(scheduler.NextDueNs(), kStart + 11'000'000);
}

TEST(RateSchedulerTest, FractionalIntervalsDoNotDrift) {
  RateScheduler scheduler(3, kStart, UINT64_MAX);  // 333.33 ms apart
  EXPECT_EQ(scheduler.DueNs(3), kStart + 1'000'000'000);
  EXPECT_EQ(scheduler.DueNs(300), kStart + 100'000'000'000);
  EXPECT_EQ(scheduler.DueCount(kStart + 1'000'000'000), 4u);
  EXPECT_EQ(scheduler.DueCount(kStart + 999'999'999), 3u);
}

TEST(RateSchedulerTest, StopsAtTheLimit) {
  RateScheduler scheduler(1'000'000, kStart, 5);
  EXPECT_EQ(scheduler.DueCount(kStart + 1'000'000'000), 5u);
  int64_t due = 0;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(scheduler.Take(kStart + 1'000'000'000, &due));
  EXPECT_FALSE(scheduler.Take(kStart + 1'000'000'000, &due));
  EXPECT_TRUE(scheduler.exhausted());
  EXPECT_EQ(scheduler.NextDueNs(), -1);
}

}  // namespace
}  // namespace etrnd::blaster

#include "etrnd/delivery/retry_schedule.h"

#include "gtest/gtest.h"

namespace etrnd::delivery {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(RetryScheduleTest, DoublesFromInitialUpToMax) {
  RetrySchedule schedule({.initial = absl::Minutes(5), .max = absl::Hours(4)});
  EXPECT_EQ(schedule.Delay(1), absl::Minutes(5));
  EXPECT_EQ(schedule.Delay(2), absl::Minutes(10));
  EXPECT_EQ(schedule.Delay(3), absl::Minutes(20));
  EXPECT_EQ(schedule.Delay(6), absl::Minutes(160));
  EXPECT_EQ(schedule.Delay(7), absl::Hours(4));
  EXPECT_EQ(schedule.Delay(1000000), absl::Hours(4));
  EXPECT_EQ(schedule.Delay(0), absl::Minutes(5));
  EXPECT_EQ(schedule.Delay(-3), absl::Minutes(5));
  EXPECT_EQ(schedule.NextAttempt(2, kT0), kT0 + absl::Minutes(10));
}

TEST(RetryScheduleTest, JitterOnlyShortensWithinTheFraction) {
  std::mt19937_64 rng(42);
  RetrySchedule schedule(
      {.initial = absl::Minutes(5), .max = absl::Hours(4), .jitter_fraction = 0.1}, &rng);
  bool varied = false;
  for (int i = 0; i < 100; ++i) {
    const absl::Duration delay = schedule.Delay(3);
    EXPECT_LE(delay, absl::Minutes(20));
    EXPECT_GT(delay, absl::Minutes(18));
    if (delay != absl::Minutes(20)) varied = true;
  }
  EXPECT_TRUE(varied);
  EXPECT_LE(schedule.Delay(50), absl::Hours(4));
}

TEST(RetryScheduleTest, DeferralBacksOffAndFlushResets) {
  RetrySchedule schedule({.initial = absl::Minutes(5), .max = absl::Hours(4)});
  RetryState state;
  EXPECT_TRUE(RetrySchedule::Due(state, kT0));
  schedule.RecordDeferral(&state, kT0, /*hold_domain=*/false);
  EXPECT_EQ(state.next_attempt, kT0 + absl::Minutes(5));
  EXPECT_FALSE(RetrySchedule::Due(state, kT0 + absl::Minutes(4)));
  EXPECT_TRUE(RetrySchedule::Due(state, kT0 + absl::Minutes(5)));
  schedule.RecordDeferral(&state, kT0 + absl::Minutes(5), false);
  EXPECT_EQ(state.next_attempt, kT0 + absl::Minutes(15));
  RetrySchedule::ResetForFlush(&state, kT0 + absl::Minutes(6));
  EXPECT_EQ(state.failed_attempts, 0);
  EXPECT_TRUE(RetrySchedule::Due(state, kT0 + absl::Minutes(6)));
  schedule.RecordDeferral(&state, kT0 + absl::Minutes(6), false);
  EXPECT_EQ(state.next_attempt, kT0 + absl::Minutes(11));  // initial again
}

TEST(RetryScheduleTest, HoldDomainsAreNeverScheduled) {
  EXPECT_FALSE(RetriesAutomatically(/*hold_domain=*/true));
  EXPECT_TRUE(RetriesAutomatically(false));
  RetrySchedule schedule({});
  RetryState state;
  schedule.RecordDeferral(&state, kT0, /*hold_domain=*/true);
  EXPECT_EQ(state.next_attempt, absl::InfiniteFuture());
  EXPECT_FALSE(RetrySchedule::Due(state, kT0 + absl::Hours(24 * 365)));
  RetrySchedule::ResetForFlush(&state, kT0);  // ETRN
  EXPECT_TRUE(RetrySchedule::Due(state, kT0));
}

TEST(RetryScheduleTest, Expiry) {
  EXPECT_FALSE(Expired(kT0, kT0 + absl::Hours(119), absl::Hours(120)));
  EXPECT_TRUE(Expired(kT0, kT0 + absl::Hours(120), absl::Hours(120)));
  EXPECT_TRUE(Expired(kT0, kT0 + absl::Hours(200), absl::Hours(120)));
}

TEST(RetryScheduleTest, Validate) {
  EXPECT_TRUE(RetrySchedule::Validate({}).ok());
  EXPECT_FALSE(RetrySchedule::Validate({.initial = absl::ZeroDuration()}).ok());
  EXPECT_FALSE(RetrySchedule::Validate({.initial = absl::Hours(5), .max = absl::Hours(4)}).ok());
  EXPECT_FALSE(RetrySchedule::Validate({.jitter_fraction = 1.0}).ok());
}

}  // namespace
}  // namespace etrnd::delivery

// The background pacing policy with made-up times.
#include "etrnd/reactor/background_pacing.h"

#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);
const absl::Duration kIdleSlice = absl::Microseconds(500);

TEST(BackgroundPacingTest, WithoutClientsBackgroundRunsWholeTurnsAndNeverWaits) {
  BackgroundPacing pacing(kIdleSlice, 50);
  EXPECT_FALSE(pacing.clients_active(kStart));
  EXPECT_TRUE(pacing.MayRun(kStart));
  EXPECT_EQ(pacing.SliceEnd(kStart), kStart + kIdleSlice);
  pacing.Ran(kStart, kStart + absl::Milliseconds(3));
  EXPECT_TRUE(pacing.MayRun(kStart + absl::Milliseconds(3)));
  EXPECT_EQ(pacing.WaitBeforeNext(kStart + absl::Milliseconds(3)), absl::ZeroDuration());
}

TEST(BackgroundPacingTest, WhileClientsAreActiveASliceOverTheBudgetIsRepaidAtTheShare) {
  BackgroundPacing pacing(kIdleSlice, 50);
  pacing.ClientSeen(kStart);
  EXPECT_TRUE(pacing.MayRun(kStart));
  EXPECT_EQ(pacing.SliceEnd(kStart), kStart + BackgroundPacing::kSlice);
  // Items ran far over the slice: 250 us of work against a full slice plus
  // half of the 250 us the slice took leaves 25 us to repay.
  const absl::Time ended = kStart + absl::Microseconds(250);
  pacing.Ran(kStart, ended);
  EXPECT_FALSE(pacing.MayRun(ended));
  // Repaid, and a whole slice refilled, at half the clock: 2 x 125 us.
  EXPECT_EQ(pacing.WaitBeforeNext(ended), absl::Microseconds(250) + absl::Nanoseconds(1));
  // Not on a sliver of budget (one completion per wake-up).
  EXPECT_FALSE(pacing.MayRun(ended + absl::Microseconds(100)));
  EXPECT_FALSE(pacing.MayRun(ended + absl::Microseconds(249)));
  const absl::Time resumed = ended + absl::Microseconds(250);
  EXPECT_TRUE(pacing.MayRun(resumed));
  EXPECT_EQ(pacing.SliceEnd(resumed), resumed + BackgroundPacing::kSlice);
}

TEST(BackgroundPacingTest, AShortSliceWaitsOnlyForWhatItSpent) {
  BackgroundPacing pacing(kIdleSlice, 10);
  pacing.ClientSeen(kStart);
  const absl::Time ended = kStart + absl::Microseconds(10);
  pacing.Ran(kStart, ended);  // 10 us, of which 1 us came back meanwhile
  EXPECT_FALSE(pacing.MayRun(ended));
  EXPECT_EQ(pacing.WaitBeforeNext(ended), absl::Microseconds(90) + absl::Nanoseconds(1));
}

TEST(BackgroundPacingTest, ManyShortSlicesAreChargedToo) {
  // A flush whose every slice empties the queue still spends the budget:
  // 10 us of work in every 12 us is well over a 25 % share.
  BackgroundPacing pacing(kIdleSlice, 25);
  absl::Time now = kStart;
  int slices = 0;
  while (pacing.MayRun(now) && slices < 100) {
    pacing.ClientSeen(now);
    pacing.Ran(now, now + absl::Microseconds(10));
    now += absl::Microseconds(12);
    ++slices;
  }
  EXPECT_LT(slices, 100);
  EXPECT_GT(pacing.WaitBeforeNext(now), absl::ZeroDuration());
}

TEST(BackgroundPacingTest, OverABusyPeriodBackgroundGetsItsShare) {
  for (int share : {10, 25, 50, 90}) {
    BackgroundPacing pacing(kIdleSlice, share);
    absl::Time now = kStart;
    absl::Duration ran;
    const absl::Time end = kStart + absl::Milliseconds(8);
    while (now < end) {
      pacing.ClientSeen(now);
      if (pacing.MayRun(now)) {
        // Work items of 30 us; a slice runs whole items past its end.
        const absl::Time slice_end = pacing.SliceEnd(now);
        absl::Time t = now;
        do t += absl::Microseconds(30);
        while (t < slice_end);
        pacing.Ran(now, t);
        ran += t - now;
        now = t + absl::Microseconds(5);  // the turn's foreground work
      } else {
        now += pacing.WaitBeforeNext(now);
      }
    }
    const double taken = absl::FDivDuration(ran, now - kStart) * 100;
    EXPECT_NEAR(taken, share, 5) << "share " << share;
  }
}

TEST(BackgroundPacingTest, AFullShareNeverWaits) {
  BackgroundPacing pacing(kIdleSlice, 100);
  pacing.ClientSeen(kStart);
  pacing.Ran(kStart, kStart + absl::Milliseconds(1));
  EXPECT_TRUE(pacing.MayRun(kStart + absl::Milliseconds(1)));
  EXPECT_EQ(pacing.SliceEnd(kStart + absl::Milliseconds(1)),
            kStart + absl::Milliseconds(1) + BackgroundPacing::kSlice);
}

TEST(BackgroundPacingTest, ClientsCountAsActiveForALittleWhile) {
  BackgroundPacing pacing(kIdleSlice, 10);
  pacing.ClientSeen(kStart);
  const absl::Time later = kStart + BackgroundPacing::kClientsRecent;
  EXPECT_TRUE(pacing.clients_active(later - absl::Microseconds(1)));
  EXPECT_FALSE(pacing.clients_active(later));
  // A debt run up while they were active is forgiven when they go quiet.
  pacing.Ran(later - absl::Milliseconds(2), later - absl::Microseconds(1));
  EXPECT_FALSE(pacing.MayRun(later - absl::Microseconds(1)));
  EXPECT_EQ(pacing.WaitBeforeNext(later - absl::Microseconds(1)), absl::Microseconds(1));
  EXPECT_TRUE(pacing.MayRun(later));
  EXPECT_EQ(pacing.SliceEnd(later), later + kIdleSlice);
}

}  // namespace
}  // namespace etrnd::reactor

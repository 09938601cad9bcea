// The background pacing policy with made-up times.
#include "etrnd/reactor/background_pacing.h"

#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);
const absl::Duration kIdleSlice = absl::Microseconds(500);

TEST(BackgroundPacingTest, WithoutClientsBackgroundRunsWholeTurnsAndNeverRests) {
  BackgroundPacing pacing(kIdleSlice);
  EXPECT_FALSE(pacing.clients_active(kStart));
  EXPECT_TRUE(pacing.MayRun(kStart));
  EXPECT_EQ(pacing.SliceEnd(kStart), kStart + kIdleSlice);
  pacing.Ran(kStart, kStart + absl::Milliseconds(3));
  EXPECT_TRUE(pacing.MayRun(kStart + absl::Milliseconds(3)));
  EXPECT_EQ(pacing.WaitBeforeNext(kStart + absl::Milliseconds(3)), absl::ZeroDuration());
}

TEST(BackgroundPacingTest, WhileClientsAreActiveEachSliceIsFollowedByAsLongARest) {
  BackgroundPacing pacing(kIdleSlice);
  pacing.ClientSeen(kStart);
  EXPECT_TRUE(pacing.MayRun(kStart));
  EXPECT_EQ(pacing.SliceEnd(kStart), kStart + BackgroundPacing::kSlice);
  const absl::Time ended = kStart + absl::Microseconds(120);  // one item ran over
  pacing.Ran(kStart, ended);
  EXPECT_FALSE(pacing.MayRun(ended));
  EXPECT_EQ(pacing.WaitBeforeNext(ended), absl::Microseconds(120));
  EXPECT_FALSE(pacing.MayRun(ended + absl::Microseconds(119)));
  EXPECT_TRUE(pacing.MayRun(ended + absl::Microseconds(120)));
}

TEST(BackgroundPacingTest, ClientsCountAsActiveForALittleWhile) {
  BackgroundPacing pacing(kIdleSlice);
  pacing.ClientSeen(kStart);
  const absl::Time later = kStart + BackgroundPacing::kClientsRecent;
  EXPECT_TRUE(pacing.clients_active(later - absl::Microseconds(1)));
  EXPECT_FALSE(pacing.clients_active(later));
  // A rest that began while they were active ends when they go quiet.
  pacing.Ran(later - absl::Milliseconds(2), later - absl::Microseconds(1));
  EXPECT_FALSE(pacing.MayRun(later - absl::Microseconds(1)));
  EXPECT_TRUE(pacing.MayRun(later));
  EXPECT_EQ(pacing.SliceEnd(later), later + kIdleSlice);
}

}  // namespace
}  // namespace etrnd::reactor

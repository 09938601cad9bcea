// DeadTargets: a failed next-hop address is remembered for kDeadTargetMemory,
// forgotten once it connects, and the memory is bounded.
#include "dead_targets.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace etrnd::qmgr {
namespace {

SocketAddress Address(int i) {
  return *SocketAddress::Parse(absl::StrCat("192.0.", i / 250, ".", i % 250 + 1, ":25"));
}

TEST(DeadTargetsTest, RemembersAFailureForItsMemoryOnly) {
  DeadTargets dead;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(dead.Find(Address(1), t0).has_value());
  dead.Record(Address(1), t0, "connection refused");
  auto found = dead.Find(Address(1), t0 + kDeadTargetMemory / 2);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->why, "connection refused");
  EXPECT_EQ(found->at, t0);
  EXPECT_FALSE(dead.Find(Address(2), t0).has_value()) << "only the address that failed";
  EXPECT_FALSE(dead.Find(Address(1), t0 + kDeadTargetMemory).has_value());
}

TEST(DeadTargetsTest, SamePortOnlyAndForgottenWhenItConnects) {
  DeadTargets dead;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  dead.Record(*SocketAddress::Parse("127.0.0.1:9"), t0, "refused");
  EXPECT_FALSE(dead.Find(*SocketAddress::Parse("127.0.0.1:25"), t0).has_value());
  EXPECT_TRUE(dead.Find(*SocketAddress::Parse("127.0.0.1:9"), t0).has_value());
  dead.Forget(*SocketAddress::Parse("127.0.0.1:9"));
  EXPECT_FALSE(dead.Find(*SocketAddress::Parse("127.0.0.1:9"), t0).has_value());
}

TEST(DeadTargetsTest, BoundedExpiredOnesMakeRoom) {
  DeadTargets dead;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  for (size_t i = 0; i < kDeadTargetsMax; ++i) dead.Record(Address(static_cast<int>(i)), t0, "x");
  EXPECT_EQ(dead.size(), kDeadTargetsMax);
  // Full and nothing expired: a new failure is not remembered (tried again).
  const SocketAddress extra = Address(static_cast<int>(kDeadTargetsMax));
  dead.Record(extra, t0 + absl::Milliseconds(1), "x");
  EXPECT_EQ(dead.size(), kDeadTargetsMax);
  EXPECT_FALSE(dead.Find(extra, t0 + absl::Milliseconds(1)).has_value());
  // Once the old ones expired they make room.
  const absl::Time later = t0 + kDeadTargetMemory + absl::Milliseconds(1);
  dead.Record(extra, later, "y");
  EXPECT_EQ(dead.size(), 1u);
  EXPECT_TRUE(dead.Find(extra, later).has_value());
}

}  // namespace
}  // namespace etrnd::qmgr

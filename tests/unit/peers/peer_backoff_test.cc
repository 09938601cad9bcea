#include "etrnd/peers/peer_backoff.h"

#include "gtest/gtest.h"

namespace etrnd::peers {
namespace {

TEST(PeerBackoffTest, DoublesFrom100msUpTo5s) {
  PeerBackoff backoff;
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(100));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.NextDelay(), absl::Milliseconds(3200));
  EXPECT_EQ(backoff.NextDelay(), absl::Seconds(5));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(backoff.NextDelay(), kPeerBackoffMax);
  EXPECT_EQ(backoff.failures(), 107);
}

TEST(PeerBackoffTest, ResetStartsOver) {
  PeerBackoff backoff;
  for (int i = 0; i < 10; ++i) backoff.NextDelay();
  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.NextDelay(), kPeerBackoffInitial);
}

}  // namespace
}  // namespace etrnd::peers

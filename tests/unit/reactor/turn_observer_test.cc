// The turn observer sees the work time of each loop turn, not the time the
// loop sleeps in the ring.
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

void Spin(absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  while (absl::Now() < until) {
  }
}

TEST(ReactorTurnObserverTest, SeesWorkButNotTheWait) {
  std::vector<absl::Duration> turns;
  absl::Duration wall;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&turns](absl::Duration turn) { turns.push_back(turn); });
    const absl::Time start = absl::Now();
    r->Post([] { Spin(absl::Milliseconds(3)); });
    // The loop sleeps ~60 ms in the ring before this timer.
    r->RunAfter(absl::Milliseconds(60), [r] { r->Stop(); });
    r->Run();
    wall = absl::Now() - start;
  });
  thread.join();
  ASSERT_GE(turns.size(), 2u);
  absl::Duration longest, sum;
  for (absl::Duration turn : turns) {
    EXPECT_GE(turn, absl::ZeroDuration());
    longest = std::max(longest, turn);
    sum += turn;
  }
  EXPECT_GE(longest, absl::Milliseconds(3));  // the posted spin
  EXPECT_GE(wall, absl::Milliseconds(60));
  EXPECT_LT(sum, absl::Milliseconds(30)) << "the ring wait was counted as work";
}

TEST(ReactorTurnObserverTest, NoObserverNoCalls) {
  int calls = 0;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&calls](absl::Duration) { ++calls; });
    r->SetTurnObserver(nullptr);
    r->Post([r] { r->Stop(); });
    r->Run();
  });
  thread.join();
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace etrnd::reactor

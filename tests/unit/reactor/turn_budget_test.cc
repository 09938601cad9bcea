// Posted work and timers run under a time budget per loop turn: a backlog of
// either cannot starve the rest of the loop.
#include <atomic>
#include <chrono>
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

TEST(ReactorTurnBudgetTest, ABacklogOfPostedWorkLetsTimersRunInBetween) {
  constexpr int kTasks = 2000;
  std::atomic<int> ran{0};
  int ran_when_timer_fired = -1;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->Post([&, r] {
      // 2000 x 100 us = 200 ms of posted work, queued at once.
      for (int i = 0; i < kTasks; ++i) {
        r->Post([&] {
          Spin(absl::Microseconds(100));
          ++ran;
        });
      }
      r->RunAfter(absl::Milliseconds(5), [&] { ran_when_timer_fired = ran.load(); });
      r->Post([r] { r->Stop(); });  // after every task, in order
    });
    r->Run();
  });
  thread.join();
  EXPECT_EQ(ran.load(), kTasks);  // nothing dropped, stop came last
  EXPECT_GE(ran_when_timer_fired, 0);
  EXPECT_LT(ran_when_timer_fired, kTasks) << "the timer waited for the whole backlog";
}

TEST(ReactorTurnBudgetTest, PostedWorkKeepsItsOrderAcrossTurns) {
  std::vector<int> order;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    for (int i = 0; i < 300; ++i) {
      r->Post([&order, i] {
        Spin(absl::Microseconds(50));
        order.push_back(i);
      });
    }
    r->Stop();
    r->Run();
  });
  thread.join();
  ASSERT_EQ(order.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace etrnd::reactor

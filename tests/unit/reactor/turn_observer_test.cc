// The turn observer sees the work time of each loop turn, not the time the
// loop sleeps in the ring, and which phase of the turn spent it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
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
  std::vector<TurnProfile> turns;
  absl::Duration wall;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&turns](const TurnProfile& turn) { turns.push_back(turn); });
    const absl::Time start = absl::Now();
    r->Post([] { Spin(absl::Milliseconds(3)); });
    // The loop sleeps ~60 ms in the ring before this timer.
    r->RunAfter(absl::Milliseconds(60), [r] { r->Stop(); });
    r->Run();
    wall = absl::Now() - start;
  });
  thread.join();
  ASSERT_GE(turns.size(), 2u);
  absl::Duration longest, sum, longest_task, cpu;
  for (const TurnProfile& turn : turns) {
    EXPECT_GE(turn.total, absl::ZeroDuration());
    // The thread's CPU time is part of the turn's (not the ring wait's).
    EXPECT_LE(turn.cpu, turn.total + absl::Microseconds(50));
    cpu += turn.cpu;
    longest = std::max(longest, turn.total);
    longest_task = std::max(longest_task, turn.posted.longest);
    sum += turn.total;
  }
  EXPECT_GE(longest, absl::Milliseconds(3));       // the posted spin
  EXPECT_GE(longest_task, absl::Milliseconds(3));  // ... counted as a task
  EXPECT_GE(wall, absl::Milliseconds(60));
  EXPECT_LT(sum, absl::Milliseconds(30)) << "the ring wait was counted as work";
  EXPECT_GT(cpu, absl::ZeroDuration());
}

// kTotal (the histogram's level) still measures each turn's length, the
// same as kFull, but leaves the thread's counters and the per-completion
// clock unread (timers and tasks read the clock for the turn budget anyway).
TEST(ReactorTurnObserverTest, TotalOnlyMeasuresTheTurnAndNothingElse) {
  std::vector<TurnProfile> turns;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&turns](const TurnProfile& turn) { turns.push_back(turn); },
                       TurnDetail::kTotal);
    r->Post([] { Spin(absl::Milliseconds(3)); });
    r->RunAfter(absl::Milliseconds(20), [r] { r->Stop(); });
    r->Run();
  });
  thread.join();
  ASSERT_GE(turns.size(), 2u);
  absl::Duration longest, sum;
  for (const TurnProfile& turn : turns) {
    longest = std::max(longest, turn.total);
    sum += turn.total;
    EXPECT_EQ(turn.cpu, absl::ZeroDuration());
    EXPECT_EQ(turn.completions.count, 0u);
    EXPECT_EQ(turn.preempted + turn.slept, 0);
  }
  EXPECT_GE(longest, absl::Milliseconds(3));  // the posted spin
  EXPECT_LT(sum, absl::Milliseconds(15)) << "the ring wait was counted as work";
}

TEST(ReactorTurnObserverTest, NoObserverNoCalls) {
  int calls = 0;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&calls](const TurnProfile&) { ++calls; });
    r->SetTurnObserver(nullptr);
    r->Post([r] { r->Stop(); });
    r->Run();
  });
  thread.join();
  EXPECT_EQ(calls, 0);
}

// A slow completion handler and a slow timer are each charged to their own
// phase, and the completion names its op kind.
TEST(ReactorTurnObserverTest, ChargesEachPhase) {
  char path[] = "/tmp/etrnd_turn_profile_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  TurnProfile file_turn, timer_turn;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&](const TurnProfile& turn) {
      if (turn.completions.longest > file_turn.completions.longest) file_turn = turn;
      if (turn.timers.longest > timer_turn.timers.longest) timer_turn = turn;
    });
    r->Fdatasync(fd, [](int) { Spin(absl::Milliseconds(3)); });
    r->RunAfter(absl::Milliseconds(20), [] { Spin(absl::Milliseconds(2)); });
    r->RunAfter(absl::Milliseconds(40), [r] { r->Stop(); });
    r->Run();
  });
  thread.join();
  close(fd);
  EXPECT_GE(file_turn.completions.longest, absl::Milliseconds(3));
  EXPECT_STREQ(file_turn.completions.longest_kind, "file");
  EXPECT_GE(timer_turn.timers.longest, absl::Milliseconds(2));
  EXPECT_LT(timer_turn.completions.time, absl::Milliseconds(2));
  EXPECT_NE(file_turn.Describe().find("completions"), std::string::npos);
  EXPECT_NE(file_turn.Describe().find(", file)"), std::string::npos) << file_turn.Describe();
}

// Completions that pile up while one handler is slow are handled over
// several turns, within the turn budget, not all in the next one.
TEST(ReactorTurnObserverTest, CompletionsThatPiledUpSpreadOverTurns) {
  constexpr int kOps = 200;
  char path[] = "/tmp/etrnd_turn_budget_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  int done = 0;
  uint32_t most_in_one_turn = 0;
  std::thread thread([&] {
    auto reactor = Reactor::Create(0, ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    Reactor* r = reactor->get();
    r->SetTurnObserver([&](const TurnProfile& turn) {
      most_in_one_turn = std::max(most_in_one_turn, turn.completions.count);
    });
    r->Post([&, r] {
      for (int i = 0; i < kOps; ++i) {
        r->Fdatasync(fd, [&, r](int) {
          // The first spins while the others complete behind it; each of
          // them then takes 100 us.
          Spin(done == 0 ? absl::Milliseconds(20) : absl::Microseconds(100));
          if (++done == kOps) r->Stop();
        });
      }
    });
    r->Run();
  });
  thread.join();
  close(fd);
  EXPECT_EQ(done, kOps);
  // The budget (500 us) stops a turn after about five of them. (The kernel
  // also posts deferred completions about 20 per wait, which alone would
  // make 2 ms turns.)
  EXPECT_LE(most_in_one_turn, 10u);
}

TEST(TurnProfileTest, DescribesEveryPhase) {
  TurnProfile turn;
  turn.completions.Add(absl::Milliseconds(2), "recv");
  turn.completions.Add(absl::Milliseconds(5), "file");
  turn.posted.Add(absl::Microseconds(500));
  turn.background.Add(absl::Microseconds(90), "recv");
  turn.loop_end_hooks = absl::Milliseconds(1);
  EXPECT_EQ(turn.Describe(),
            "2 completions 7ms (longest 5ms, file); 0 timers; 1 tasks 500us (longest 500us); "
            "1 background 90us (longest 90us, recv); teardowns 0; hooks 1ms; sends 0; cpu 0 "
            "(preempted 0, slept 0)");
}

}  // namespace
}  // namespace etrnd::reactor

// Cross-core messages between reactors (Reactor::PostTo): per-pair order,
// nothing lost when a pair's queue overflows, a sleeping receiver wakes.
#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "etrnd/reactor/cross_core_queue.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/reactor/reactor_mesh.h"
#include "gtest/gtest.h"

namespace etrnd::reactor {
namespace {

TEST(CrossCoreQueueTest, FifoUpToItsBoundThenRefuses) {
  CrossCoreQueue queue;
  std::vector<int> seen;
  for (size_t i = 0; i < kCrossCoreQueueSlots; ++i) {
    CrossCoreQueue::Task task = [&seen, i] { seen.push_back(static_cast<int>(i)); };
    ASSERT_TRUE(queue.TryPush(task));
  }
  CrossCoreQueue::Task extra = [] {};
  EXPECT_FALSE(queue.TryPush(extra));
  EXPECT_TRUE(static_cast<bool>(extra)) << "a refused task stays with the caller";
  CrossCoreQueue::Task task;
  while (queue.TryPop(&task)) task();
  ASSERT_EQ(seen.size(), kCrossCoreQueueSlots);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], static_cast<int>(i));
  EXPECT_TRUE(queue.Empty());
  EXPECT_TRUE(queue.TryPush(extra));  // the ring wraps
}

TEST(CrossCoreQueueTest, OneProducerOneConsumerThreadKeepOrder) {
  constexpr int kTasks = 200000;
  CrossCoreQueue queue;
  std::vector<int> seen;
  seen.reserve(kTasks);
  std::thread producer([&] {
    for (int i = 0; i < kTasks; ++i) {
      CrossCoreQueue::Task task = [&seen, i] { seen.push_back(i); };
      while (!queue.TryPush(task)) std::this_thread::yield();
    }
  });
  CrossCoreQueue::Task task;
  while (static_cast<int>(seen.size()) < kTasks) {
    if (queue.TryPop(&task)) {
      task();
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(seen[i], i);
}

// N reactors, each on its own thread, joined in one mesh.
class MeshLoops {
 public:
  explicit MeshLoops(size_t count)
      : mesh_(count), reactors_(count), joined_(static_cast<std::ptrdiff_t>(count) + 1) {
    for (size_t i = 0; i < count; ++i) {
      threads_.emplace_back([this, i] {
        auto reactor = Reactor::Create(static_cast<int>(i), ReactorOptions{});
        if (!reactor.ok()) std::abort();
        reactors_[i] = std::move(*reactor);
        reactors_[i]->JoinMesh(mesh_);
        joined_.arrive_and_wait();  // no PostTo before every member joined
        reactors_[i]->Run();
      });
    }
    joined_.arrive_and_wait();
  }
  ~MeshLoops() {
    for (auto& reactor : reactors_) reactor->Stop();
    for (auto& thread : threads_) thread.join();
  }
  Reactor& operator[](size_t i) { return *reactors_[i]; }

 private:
  ReactorMesh mesh_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::latch joined_;  // a member: waiters may still touch it after the count hits 0
  std::vector<std::thread> threads_;
};

TEST(CrossCoreTest, MessagesArriveInOrderAndNoneIsLostWhenThePairQueueOverflows) {
  // Three times the pair's bound in one turn: two thirds go to the overflow.
  constexpr int kTasks = 3 * static_cast<int>(kCrossCoreQueueSlots) + 17;
  MeshLoops loops(2);
  std::vector<int> seen;  // receiver thread only
  std::promise<void> done;
  loops[0].Post([&] {
    for (int i = 0; i < kTasks; ++i) {
      loops[0].PostTo(loops[1], [&seen, i] { seen.push_back(i); });
    }
    loops[0].PostTo(loops[1], [&done] { done.set_value(); });
  });
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(static_cast<int>(seen.size()), kTasks);
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(seen[i], i);
}

TEST(CrossCoreTest, ReceiverBlockedInTheRingWaitWakes) {
  MeshLoops loops(2);
  std::promise<std::thread::id> ran_on;
  std::promise<std::thread::id> receiver_thread;
  loops[1].Post([&] { receiver_thread.set_value(std::this_thread::get_id()); });
  std::thread::id receiver_id = receiver_thread.get_future().get();
  // The receiver has no timer and nothing to do: it sleeps in the ring wait
  // until the MSG_RING arrives.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  loops[0].Post(
      [&] { loops[0].PostTo(loops[1], [&] { ran_on.set_value(std::this_thread::get_id()); }); });
  auto future = ran_on.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(future.get(), receiver_id);
}

TEST(CrossCoreTest, PingPongBetweenTwoCoresKeepsEveryRound) {
  constexpr int kRounds = 20000;
  MeshLoops loops(2);
  std::promise<int> finished;
  int count = 0;  // touched only by whichever core holds the ball
  std::function<void(int)> bounce = [&](int side) {
    if (++count == kRounds) {
      finished.set_value(count);
      return;
    }
    loops[side].PostTo(loops[1 - side], [&bounce, side] { bounce(1 - side); });
  };
  loops[0].Post([&] { bounce(0); });
  auto future = finished.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(future.get(), kRounds);
}

TEST(CrossCoreTest, ManySendersToOneReceiverKeepEachSendersOrder) {
  constexpr size_t kCores = 4;
  constexpr int kTasksPerSender = 20000;
  MeshLoops loops(kCores);
  std::vector<std::vector<int>> seen(kCores);  // receiver (core 0) thread only
  std::atomic<int> senders_done{0};
  std::promise<void> all_seen;
  int total = 0;
  for (size_t sender = 1; sender < kCores; ++sender) {
    loops[sender].Post([&, sender] {
      for (int i = 0; i < kTasksPerSender; ++i) {
        loops[sender].PostTo(loops[0], [&, sender, i] {
          seen[sender].push_back(i);
          if (++total == kTasksPerSender * static_cast<int>(kCores - 1)) all_seen.set_value();
        });
      }
      senders_done++;
    });
  }
  ASSERT_EQ(all_seen.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  for (size_t sender = 1; sender < kCores; ++sender) {
    ASSERT_EQ(static_cast<int>(seen[sender].size()), kTasksPerSender);
    for (int i = 0; i < kTasksPerSender; ++i) ASSERT_EQ(seen[sender][i], i);
  }
  EXPECT_EQ(senders_done.load(), static_cast<int>(kCores - 1));
}

TEST(CrossCoreTest, PostToSelfRunsLaterOnTheSameThread) {
  MeshLoops loops(2);
  std::promise<std::vector<int>> result;
  loops[0].Post([&] {
    auto order = std::make_shared<std::vector<int>>();
    loops[0].PostTo(loops[0], [order, &result] {
      order->push_back(2);
      result.set_value(*order);
    });
    order->push_back(1);  // the posted task has not run yet
  });
  EXPECT_EQ(result.get_future().get(), (std::vector<int>{1, 2}));
}

}  // namespace
}  // namespace etrnd::reactor

#include "etrnd/server/connection_limiter.h"

#include <atomic>
#include <latch>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace etrnd::server {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(ConnectionLimiterTest, PerAddressLimitAdmitsExactlyN) {
  ConnectionLimiter limiter(100, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kTooManyFromAddress);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.2")), Admission::kAdmitted);
  limiter.Release(Ip("127.0.0.1"));
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.total(), 4u);
}

TEST(ConnectionLimiterTest, TotalLimitCountsEveryAddress) {
  ConnectionLimiter limiter(2, 10);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("::1")), Admission::kAdmitted);
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.3")), Admission::kTooManyTotal);
  limiter.Release(Ip("::1"));
  EXPECT_EQ(limiter.TryAdmit(Ip("127.0.0.3")), Admission::kAdmitted);
}

TEST(ConnectionLimiterTest, ReleaseOfUnknownAddressIsIgnored) {
  ConnectionLimiter limiter(2, 1);
  limiter.Release(Ip("10.0.0.1"));
  EXPECT_EQ(limiter.total(), 0u);
  EXPECT_EQ(limiter.TryAdmit(Ip("10.0.0.1")), Admission::kAdmitted);
}

TEST(ConnectionLimiterTest, ManyThreadsAtOnceAdmitExactlyNFromOneAddress) {
  constexpr int kThreads = 32;
  constexpr int kAttemptsPerThread = 50;
  constexpr size_t kPerAddress = 7;
  ConnectionLimiter limiter(1000, kPerAddress);
  std::atomic<int> admitted{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        if (limiter.TryAdmit(Ip("192.0.2.1")) == Admission::kAdmitted) admitted++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), static_cast<int>(kPerAddress));
  EXPECT_EQ(limiter.total(), kPerAddress);
}

TEST(ConnectionLimiterTest, AdmitAndReleaseUnderThreadsNeverExceedsEitherLimit) {
  constexpr int kThreads = 16;
  constexpr int kRounds = 20000;
  constexpr size_t kPerAddress = 3;
  constexpr size_t kTotal = 10;
  ConnectionLimiter limiter(kTotal, kPerAddress);
  // Eight addresses: the per-address and the total limit both bite.
  std::vector<IpAddress> addresses;
  for (int i = 0; i < 8; ++i) addresses.push_back(Ip(absl::StrCat("198.51.100.", i + 1).c_str()));
  std::vector<std::atomic<int>> live(addresses.size());
  std::atomic<int> live_total{0};
  std::atomic<bool> over_limit{false};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        size_t a = static_cast<size_t>(t + i) % addresses.size();
        if (limiter.TryAdmit(addresses[a]) != Admission::kAdmitted) continue;
        if (++live[a] > static_cast<int>(kPerAddress)) over_limit = true;
        if (++live_total > static_cast<int>(kTotal)) over_limit = true;
        --live[a];
        --live_total;
        limiter.Release(addresses[a]);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_FALSE(over_limit.load());
  EXPECT_EQ(limiter.total(), 0u);
  // Everything released: every address gets its full N again.
  for (size_t i = 0; i < kPerAddress; ++i) {
    EXPECT_EQ(limiter.TryAdmit(addresses[0]), Admission::kAdmitted);
  }
  EXPECT_EQ(limiter.TryAdmit(addresses[0]), Admission::kTooManyFromAddress);
}

TEST(ConnectionLimiterTest, TotalLimitIsExactUnderThreads) {
  constexpr int kThreads = 16;
  constexpr size_t kTotal = 50;
  ConnectionLimiter limiter(kTotal, 1000);
  std::atomic<int> admitted{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < 20; ++i) {
        IpAddress address = Ip(absl::StrCat("10.", t, ".", i, ".1").c_str());
        if (limiter.TryAdmit(address) == Admission::kAdmitted) admitted++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), static_cast<int>(kTotal));
  EXPECT_EQ(limiter.total(), kTotal);
}

}  // namespace
}  // namespace etrnd::server

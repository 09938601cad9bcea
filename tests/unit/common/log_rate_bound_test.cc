#include "etrnd/common/log_rate_bound.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(LogRateBoundTest, BurstOfOneSecondThenTheRate) {
  LogRateBound bound(100);
  int written = 0;
  for (int i = 0; i < 1000; ++i) written += bound.Admit(kStart).write;
  EXPECT_EQ(written, 100);
  // 10 ms later: one more line's worth of tokens.
  EXPECT_TRUE(bound.Admit(kStart + absl::Milliseconds(10)).write);
  EXPECT_FALSE(bound.Admit(kStart + absl::Milliseconds(10)).write);
  // Over 10 s of a flood (1000 lines/s offered), about 100 lines/s pass.
  written = 0;
  for (int ms = 11; ms < 10'011; ++ms) {
    written += bound.Admit(kStart + absl::Milliseconds(ms)).write;
  }
  EXPECT_GE(written, 995);
  EXPECT_LE(written, 1001);
}

TEST(LogRateBoundTest, SuppressedLinesReportedAtMostOncePerInterval) {
  LogRateBound bound(10);
  uint64_t reported = 0;
  int reports = 0;
  int written = 0;
  // 5000 lines over 5 s.
  for (int i = 0; i < 5000; ++i) {
    LogRateBound::Verdict verdict = bound.Admit(kStart + absl::Milliseconds(i));
    written += verdict.write;
    if (verdict.suppressed_to_report > 0) {
      ++reports;
      reported += verdict.suppressed_to_report;
    }
  }
  EXPECT_LE(written, 10 + 5 * 10 + 1);
  EXPECT_GE(reports, 4);
  EXPECT_LE(reports, 5);
  // Every dropped line is counted in a report, except those of the last,
  // not yet due, interval.
  EXPECT_LE(reported, static_cast<uint64_t>(5000 - written));
  EXPECT_GE(reported, static_cast<uint64_t>(5000 - written - 1000));
}

TEST(LogRateBoundTest, NothingDroppedNothingReported) {
  LogRateBound bound(1000);
  for (int i = 0; i < 100; ++i) {
    LogRateBound::Verdict verdict = bound.Admit(kStart + absl::Seconds(i));
    EXPECT_TRUE(verdict.write);
    EXPECT_EQ(verdict.suppressed_to_report, 0u);
  }
}

TEST(LogRateBoundTest, ZeroIsUnbounded) {
  LogRateBound bound(0);
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(bound.Admit(kStart).write);
}

TEST(LogRateBoundTest, ThreadsShareOneBound) {
  LogRateBound bound(1000);
  std::atomic<int> written{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) written += bound.Admit(kStart).write;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(written.load(), 1000);
}

}  // namespace
}  // namespace etrnd

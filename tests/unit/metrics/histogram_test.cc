#include "etrnd/metrics/histogram.h"

#include <gtest/gtest.h>

namespace etrnd::metrics {
namespace {

constexpr double kBounds[] = {0.1, 0.5, 1};

TEST(HistogramTest, StartsEmptyWithOneBucketPerBoundPlusInf) {
  Histogram histogram(kBounds);
  const HistogramSnapshot& data = histogram.snapshot();
  EXPECT_EQ(data.counts, (std::vector<uint64_t>{0, 0, 0, 0}));
  EXPECT_EQ(data.count, 0u);
  EXPECT_EQ(data.sum, 0);
}

TEST(HistogramTest, UpperBoundIsInclusive) {
  Histogram histogram(kBounds);
  histogram.Observe(0.1);   // le="0.1"
  histogram.Observe(0.5);   // le="0.5"
  histogram.Observe(1.0);   // le="1"
  histogram.Observe(0.11);  // le="0.5"
  EXPECT_EQ(histogram.snapshot().counts, (std::vector<uint64_t>{1, 2, 1, 0}));
}

TEST(HistogramTest, AboveTheLastBoundGoesToInf) {
  Histogram histogram(kBounds);
  histogram.Observe(1.0001);
  histogram.Observe(1e9);
  EXPECT_EQ(histogram.snapshot().counts, (std::vector<uint64_t>{0, 0, 0, 2}));
}

TEST(HistogramTest, ZeroAndNegativeGoToTheFirstBucket) {
  Histogram histogram(kBounds);
  histogram.Observe(0.0);
  histogram.Observe(-3.0);  // clock stepped back
  EXPECT_EQ(histogram.snapshot().counts, (std::vector<uint64_t>{2, 0, 0, 0}));
  EXPECT_EQ(histogram.snapshot().sum, 0);
}

TEST(HistogramTest, SumCountAndCumulativeCounts) {
  Histogram histogram(kBounds);
  histogram.Observe(absl::Milliseconds(50));
  histogram.Observe(absl::Milliseconds(300));
  histogram.Observe(absl::Milliseconds(300));
  histogram.Observe(absl::Seconds(2));
  const HistogramSnapshot& data = histogram.snapshot();
  EXPECT_EQ(data.count, 4u);
  EXPECT_DOUBLE_EQ(data.sum, 2.65);
  EXPECT_EQ(data.CumulativeCount(0), 1u);
  EXPECT_EQ(data.CumulativeCount(1), 3u);
  EXPECT_EQ(data.CumulativeCount(2), 3u);
  EXPECT_EQ(data.CumulativeCount(3), 4u);
}

TEST(HistogramTest, MergeAddsBucketsSumAndCount) {
  Histogram a(kBounds);
  Histogram b(kBounds);
  a.Observe(0.05);
  b.Observe(0.05);
  b.Observe(5);
  HistogramSnapshot merged = a.snapshot();
  merged.Merge(b.snapshot());
  EXPECT_EQ(merged.counts, (std::vector<uint64_t>{2, 0, 0, 1}));
  EXPECT_EQ(merged.count, 3u);
  EXPECT_DOUBLE_EQ(merged.sum, 5.1);
}

TEST(HistogramDeathTest, MergeOfDifferentBoundsCrashes) {
  constexpr double kOther[] = {0.1, 0.5, 2};
  Histogram a(kBounds);
  Histogram b(kOther);
  HistogramSnapshot merged = a.snapshot();
  EXPECT_DEATH(merged.Merge(b.snapshot()), "check failed");
}

TEST(HistogramTest, ExportedBoundsAreAscending) {
  // The constructor checks them; building each one is the test.
  Histogram reply(kReplyBucketsSeconds);
  Histogram delivery(kDeliveryBucketsSeconds);
  Histogram turn(kLoopTurnBucketsSeconds);
  EXPECT_EQ(reply.snapshot().counts.size(), std::size(kReplyBucketsSeconds) + 1);
  EXPECT_EQ(turn.snapshot().counts.size(), std::size(kLoopTurnBucketsSeconds) + 1);
}

}  // namespace
}  // namespace etrnd::metrics

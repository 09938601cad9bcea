#include "etrnd/blaster/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

// The value a sorted reference gives for a percentile (same rank rule).
uint64_t ReferencePercentile(const std::vector<uint64_t>& sorted, double percentile) {
  uint64_t rank = static_cast<uint64_t>(
      std::ceil(percentile / 100.0 * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void ExpectWithinRelativeError(const LatencyHistogram& histogram, std::vector<uint64_t> values) {
  std::sort(values.begin(), values.end());
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const uint64_t expected = ReferencePercentile(values, p);
    const uint64_t got = histogram.ValueAtPercentile(p);
    EXPECT_GE(got, expected) << "p" << p;
    EXPECT_LE(static_cast<double>(got),
              static_cast<double>(expected) * (1.0 + 1.0 / LatencyHistogram::kSubBuckets) + 1)
        << "p" << p;
  }
  EXPECT_EQ(histogram.max(), values.back());
  EXPECT_EQ(histogram.min(), values.front());
  EXPECT_EQ(histogram.count(), values.size());
}

TEST(LatencyHistogramTest, EmptyReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.ValueAtPercentile(50), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.count(), 0u);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (uint64_t v = 0; v < LatencyHistogram::kSubBuckets; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.ValueAtPercentile(50), LatencyHistogram::kSubBuckets / 2 - 1);
  EXPECT_EQ(histogram.ValueAtPercentile(100), LatencyHistogram::kSubBuckets - 1);
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  for (int i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
    ASSERT_EQ(LatencyHistogram::BucketHighest(i) + 1, LatencyHistogram::BucketLowest(i + 1)) << i;
    const uint64_t low = LatencyHistogram::BucketLowest(i);
    const uint64_t width = LatencyHistogram::BucketHighest(i) - low + 1;
    if (low < LatencyHistogram::kSubBuckets) {
      ASSERT_EQ(width, 1u) << i;
    } else {
      ASSERT_LE(width * LatencyHistogram::kSubBuckets, low) << i;  // relative error bound
    }
    ASSERT_EQ(LatencyHistogram::BucketIndex(low), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(LatencyHistogram::BucketHighest(i)), i);
  }
}

TEST(LatencyHistogramTest, PercentilesMatchSortedReferenceOnRandomData) {
  std::mt19937_64 rng(42);
  // Log-uniform over 1 us .. ~17 min: every bucket group gets exercised.
  std::uniform_real_distribution<double> exponent(0, 30);
  LatencyHistogram histogram;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = static_cast<uint64_t>(std::exp2(exponent(rng)));
    values.push_back(v);
    histogram.Record(v);
  }
  ExpectWithinRelativeError(histogram, values);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> latency(1.0 / 5000);
  LatencyHistogram a, b, all;
  std::vector<uint64_t> values;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t v = static_cast<uint64_t>(latency(rng));
    values.push_back(v);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(a.ValueAtPercentile(p), all.ValueAtPercentile(p));
  }
  EXPECT_NEAR(a.mean(), all.mean(), 1e-6);
  ExpectWithinRelativeError(a, values);
}

TEST(LatencyHistogramTest, HugeValuesAreClampedNotLost) {
  LatencyHistogram histogram;
  histogram.Record(UINT64_MAX);
  histogram.Record(1);
  EXPECT_EQ(histogram.count(), 2u);
  EXPECT_EQ(histogram.max(), UINT64_MAX);
  EXPECT_GE(histogram.ValueAtPercentile(100), LatencyHistogram::kMaxValue / 2);
}

}  // namespace
}  // namespace etrnd::blaster

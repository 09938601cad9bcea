#include "etrnd/blaster/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace etrnd::blaster {

// Group 0 holds the values below kSubBuckets exactly; group g >= 1 covers
// [2^(g + kSubBucketBits - 1), 2^(g + kSubBucketBits)) in kSubBuckets slices
// of width 2^(g - 1).
int LatencyHistogram::BucketIndex(uint64_t value) {
  value = std::min(value, kMaxValue);
  if (value < kSubBuckets) return static_cast<int>(value);
  const int top_bit = 63 - std::countl_zero(value);
  const int group = top_bit - kSubBucketBits + 1;
  const uint64_t sub = (value >> (group - 1)) - kSubBuckets;
  return static_cast<int>(group * kSubBuckets + sub);
}

uint64_t LatencyHistogram::BucketLowest(int index) {
  const uint64_t group = static_cast<uint64_t>(index) / kSubBuckets;
  const uint64_t sub = static_cast<uint64_t>(index) % kSubBuckets;
  if (group == 0) return sub;
  return (kSubBuckets + sub) << (group - 1);
}

uint64_t LatencyHistogram::BucketHighest(int index) {
  const uint64_t group = static_cast<uint64_t>(index) / kSubBuckets;
  if (group == 0) return BucketLowest(index);
  return BucketLowest(index) + (uint64_t{1} << (group - 1)) - 1;
}

void LatencyHistogram::Record(uint64_t value) {
  ++counts_[BucketIndex(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (int i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  uint64_t rank =
      static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(BucketHighest(i), max_);
  }
  return max_;
}

}  // namespace etrnd::blaster

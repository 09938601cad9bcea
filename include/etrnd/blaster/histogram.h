// Latency histogram with a fixed relative error, in the manner of
// HdrHistogram: values are bucketed log-linearly (each power of two is split
// into kSubBuckets linear sub-buckets), so any reported percentile is within
// 1/kSubBuckets of the true value, whatever the range. Fixed memory, O(1)
// record, mergeable across threads.
#pragma once

#include <array>
#include <cstdint>

namespace etrnd::blaster {

class LatencyHistogram {
 public:
  // 2^kSubBucketBits linear sub-buckets per power of two: relative error
  // below 1/128 (< 0.8%).
  static constexpr int kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Values up to 2^kMaxValueBits - 1 are recorded exactly in their bucket;
  // larger ones are clamped (2^40 us is 12 days).
  static constexpr int kMaxValueBits = 40;
  static constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxValueBits) - 1;
  static constexpr int kBucketCount = (kMaxValueBits - kSubBucketBits + 1) * kSubBuckets;

  void Record(uint64_t value);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  // Smallest recorded value v such that at least percentile% of the values
  // are <= v, reported as the upper end of v's bucket (never above max()).
  // 0 when empty. percentile in [0, 100].
  uint64_t ValueAtPercentile(double percentile) const;

  // Bucket arithmetic, public for tests.
  static int BucketIndex(uint64_t value);
  static uint64_t BucketLowest(int index);
  static uint64_t BucketHighest(int index);

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // long double keeps the sum exact enough for means over billions of values.
  long double sum_ = 0;
};

}  // namespace etrnd::blaster

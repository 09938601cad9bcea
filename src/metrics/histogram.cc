#include "etrnd/metrics/histogram.h"

#include <algorithm>

#include "etrnd/common/check.h"

namespace etrnd::metrics {

void HistogramSnapshot::Merge(const HistogramSnapshot& other) {
  ETRND_CHECK(other.upper_bounds == upper_bounds);
  ETRND_CHECK(other.counts.size() == counts.size());
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
  count += other.count;
}

uint64_t HistogramSnapshot::CumulativeCount(size_t bucket) const {
  ETRND_CHECK(bucket < counts.size());
  uint64_t total = 0;
  for (size_t i = 0; i <= bucket; ++i) total += counts[i];
  return total;
}

Histogram::Histogram(std::span<const double> upper_bounds_seconds)
    : data_{.upper_bounds = {upper_bounds_seconds.begin(), upper_bounds_seconds.end()},
            .counts = std::vector<uint64_t>(upper_bounds_seconds.size() + 1, 0)} {
  ETRND_CHECK(std::is_sorted(data_.upper_bounds.begin(), data_.upper_bounds.end()));
  ETRND_CHECK(std::adjacent_find(data_.upper_bounds.begin(), data_.upper_bounds.end()) ==
              data_.upper_bounds.end());
}

void Histogram::Observe(double seconds) {
  if (seconds < 0) seconds = 0;  // a clock step back is not a negative latency
  // "le" is inclusive: the first bound >= the value; past the last: +Inf.
  auto it = std::lower_bound(data_.upper_bounds.begin(), data_.upper_bounds.end(), seconds);
  size_t bucket = static_cast<size_t>(it - data_.upper_bounds.begin());
  ETRND_CHECK(bucket < data_.counts.size());
  ++data_.counts[bucket];
  data_.sum += seconds;
  ++data_.count;
}

}  // namespace etrnd::metrics

// A Prometheus histogram owned by one core: fixed upper bounds in seconds,
// a count per bucket, a sum and a total. Plain integers: only the owning
// core writes it, and a scrape copies it on that core.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/time/time.h"

namespace etrnd::metrics {

// Upper bounds ("le") of the histograms etrnd exports, in seconds.
// Replies to a client (ETRN, the final dot): sub-millisecond to seconds.
inline constexpr double kReplyBucketsSeconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
// A delivery to the next hop: milliseconds to minutes.
inline constexpr double kDeliveryBucketsSeconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60,   300};
// One reactor loop turn: microseconds; above the 2 ms turn budget is a smell.
inline constexpr double kLoopTurnBucketsSeconds[] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1};

// What a scrape carries away from a core: mergeable with other cores'.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // ascending, +Inf implied
  std::vector<uint64_t> counts;      // per bucket, not cumulative; size bounds + 1
  double sum = 0;
  uint64_t count = 0;

  // Adds another core's histogram with the same bounds.
  void Merge(const HistogramSnapshot& other);
  // Observations <= upper_bounds[i] (i == size: all of them).
  uint64_t CumulativeCount(size_t bucket) const;
};

class Histogram {
 public:
  explicit Histogram(std::span<const double> upper_bounds_seconds);

  void Observe(double seconds);
  void Observe(absl::Duration elapsed) { Observe(absl::ToDoubleSeconds(elapsed)); }

  const HistogramSnapshot& snapshot() const { return data_; }

 private:
  HistogramSnapshot data_;
};

}  // namespace etrnd::metrics

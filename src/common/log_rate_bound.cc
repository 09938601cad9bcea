#include "etrnd/common/log_rate_bound.h"

#include <algorithm>

namespace etrnd {
namespace {

// The bucket holds one second of lines: a burst of that size passes at once.
constexpr int64_t kBurstWindowNs = 1'000'000'000;

int64_t IntervalNs(uint32_t lines_per_second_max) {
  return lines_per_second_max == 0 ? 0
                                   : std::max<int64_t>(1, kBurstWindowNs / lines_per_second_max);
}

}  // namespace

LogRateBound::LogRateBound(uint32_t lines_per_second_max)
    : interval_ns_(IntervalNs(lines_per_second_max)) {}

void LogRateBound::SetLinesPerSecondMax(uint32_t lines_per_second_max) {
  interval_ns_.store(IntervalNs(lines_per_second_max), std::memory_order_relaxed);
}

LogRateBound::Verdict LogRateBound::Admit(absl::Time now) {
  const int64_t now_ns = absl::ToUnixNanos(now);
  const int64_t interval_ns = interval_ns_.load(std::memory_order_relaxed);
  Verdict verdict;
  verdict.write = true;
  if (interval_ns > 0) {
    int64_t tat = tat_ns_.load(std::memory_order_relaxed);
    while (true) {
      int64_t next = std::max(tat, now_ns) + interval_ns;
      if (next - now_ns > kBurstWindowNs) {
        verdict.write = false;
        break;
      }
      if (tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) break;
    }
  }
  if (!verdict.write) dropped_.fetch_add(1, std::memory_order_relaxed);
  if (dropped_.load(std::memory_order_relaxed) == 0) return verdict;
  // One thread wins the report; the others go on counting.
  const int64_t report_interval_ns = absl::ToInt64Nanoseconds(kLogSuppressedReportInterval);
  int64_t due = next_report_ns_.load(std::memory_order_relaxed);
  if (due == 0) {
    next_report_ns_.compare_exchange_strong(due, now_ns + report_interval_ns,
                                            std::memory_order_relaxed);
  } else if (now_ns >= due && next_report_ns_.compare_exchange_strong(
                                  due, now_ns + report_interval_ns, std::memory_order_relaxed)) {
    verdict.suppressed_to_report = dropped_.exchange(0, std::memory_order_relaxed);
  }
  return verdict;
}

}  // namespace etrnd

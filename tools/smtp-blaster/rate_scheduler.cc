#include "etrnd/blaster/rate_scheduler.h"

#include <algorithm>
#include <cmath>

namespace etrnd::blaster {

RateScheduler::RateScheduler(double rate_per_second, int64_t start_ns, uint64_t limit)
    : interval_ns_(1e9 / rate_per_second), start_ns_(start_ns), limit_(limit) {}

int64_t RateScheduler::DueNs(uint64_t n) const {
  return start_ns_ + static_cast<int64_t>(std::llround(static_cast<double>(n) * interval_ns_));
}

uint64_t RateScheduler::DueBy(int64_t now_ns) const {
  if (now_ns < start_ns_) return 0;
  // Estimate, then correct for rounding so DueNs() is the single truth.
  uint64_t n = static_cast<uint64_t>(static_cast<double>(now_ns - start_ns_) / interval_ns_) + 1;
  while (n > 0 && DueNs(n - 1) > now_ns) --n;
  while (DueNs(n) <= now_ns && n < limit_) ++n;
  return std::min(n, limit_);
}

uint64_t RateScheduler::DueCount(int64_t now_ns) const {
  const uint64_t due = DueBy(now_ns);
  return due > taken_ ? due - taken_ : 0;
}

bool RateScheduler::Take(int64_t now_ns, int64_t* due_ns) {
  if (taken_ >= limit_ || DueNs(taken_) > now_ns) return false;
  *due_ns = DueNs(taken_);
  ++taken_;
  return true;
}

int64_t RateScheduler::NextDueNs() const { return exhausted() ? -1 : DueNs(taken_); }

}  // namespace etrnd::blaster

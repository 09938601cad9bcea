// Which of the sink's RCPT/DATA replies get the configured failure code.
// Deterministic rather than random: out of any first N decisions exactly
// floor(N * fraction) fail, so tests can predict counts exactly.
#pragma once

#include <cstdint>

namespace etrnd::blaster {

class FailSchedule {
 public:
  explicit FailSchedule(double fraction)
      : fraction_(fraction < 0 ? 0 : (fraction > 1 ? 1 : fraction)) {}

  bool NextFails() {
    const uint64_t before = FailuresAmong(decisions_);
    ++decisions_;
    return FailuresAmong(decisions_) > before;
  }
  uint64_t decisions() const { return decisions_; }

 private:
  uint64_t FailuresAmong(uint64_t n) const {
    return static_cast<uint64_t>(static_cast<double>(n) * fraction_ + 1e-9);
  }

  double fraction_;
  uint64_t decisions_ = 0;
};

}  // namespace etrnd::blaster

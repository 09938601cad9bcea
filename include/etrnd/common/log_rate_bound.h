// The global bound on log lines per second, shared by every thread: a token
// bucket (GCRA form: one atomic "theoretical arrival time", no lock) that
// admits up to one second's worth of lines at once, then lines_per_second.
// Lines over it are dropped and counted; a "N log lines suppressed" report
// is due at most once per kLogSuppressedReportInterval. A flood on one
// connection can thus never fill the spool's disk through the log.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace etrnd {

inline constexpr uint32_t kLogLinesPerSecondMaxDefault = 1000;
inline constexpr absl::Duration kLogSuppressedReportInterval = absl::Seconds(1);

class LogRateBound {
 public:
  struct Verdict {
    bool write = false;
    // Above 0: write "<n> log lines suppressed" before this line (or alone
    // when the line is dropped); that report itself is outside the bound.
    uint64_t suppressed_to_report = 0;
  };

  // 0 = unbounded.
  explicit LogRateBound(uint32_t lines_per_second_max = kLogLinesPerSecondMaxDefault);
  void SetLinesPerSecondMax(uint32_t lines_per_second_max);
  Verdict Admit(absl::Time now);

 private:
  std::atomic<int64_t> interval_ns_;        // 1 s / rate; 0 = unbounded
  std::atomic<int64_t> tat_ns_{0};          // when the bucket is full again
  std::atomic<uint64_t> dropped_{0};        // since the last report
  std::atomic<int64_t> next_report_ns_{0};  // 0 = nothing dropped yet
};

}  // namespace etrnd

// When to try a deferred delivery again (--retry_initial / --retry_max),
// and when a message has waited too long (--max_queue_lifetime).
// Pure: the caller passes the clock and, for jitter, the random generator.
#pragma once

#include <random>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace etrnd::delivery {

// Per destination (or per message) retry bookkeeping.
struct RetryState {
  int failed_attempts = 0;
  absl::Time next_attempt = absl::InfinitePast();  // due at once
};

// `hold` domains are delivered only when ETRN or an operator asks: the retry
// timer never starts them (their mail still expires and bounces).
constexpr bool RetriesAutomatically(bool hold_domain) { return !hold_domain; }

// True once a message that arrived at `arrival` has been queued for
// `lifetime` or longer: its undelivered recipients bounce (Status 4.4.7).
bool Expired(absl::Time arrival, absl::Time now, absl::Duration lifetime);

class RetrySchedule {
 public:
  struct Options {
    absl::Duration initial = absl::Minutes(5);
    absl::Duration max = absl::Hours(4);
    // Each delay is shortened by a random fraction in [0, jitter_fraction)
    // so destinations deferred together do not retry in lock-step.
    double jitter_fraction = 0.0;
  };

  // OK when 0 < initial <= max and 0 <= jitter_fraction < 1.
  static absl::Status Validate(const Options& options);

  // `rng` (may be null: no jitter) must outlive the schedule.
  explicit RetrySchedule(Options options, std::mt19937_64* rng = nullptr);

  // The wait after `attempts` failed attempts (>= 1; less counts as 1):
  // initial, doubling per attempt, capped at max, minus the jitter.
  absl::Duration Delay(int attempts) const;
  absl::Time NextAttempt(int attempts, absl::Time last) const { return last + Delay(attempts); }

  // A delivery attempt was deferred at `now`: back off further. For a hold
  // domain the next attempt is never (InfiniteFuture) until a flush.
  void RecordDeferral(RetryState* state, absl::Time now, bool hold_domain) const;
  // ETRN (or an operator) flushed the destination: due now, backoff resets.
  static void ResetForFlush(RetryState* state, absl::Time now);
  static bool Due(const RetryState& state, absl::Time now) { return state.next_attempt <= now; }

 private:
  Options options_;
  std::mt19937_64* rng_;
};

}  // namespace etrnd::delivery

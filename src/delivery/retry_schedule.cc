#include "etrnd/delivery/retry_schedule.h"

#include <algorithm>

namespace etrnd::delivery {
namespace {

// 2^kDoublingsMax * initial exceeds any sane max; stops the doubling early.
constexpr int kDoublingsMax = 40;

}  // namespace

bool Expired(absl::Time arrival, absl::Time now, absl::Duration lifetime) {
  return now - arrival >= lifetime;
}

absl::Status RetrySchedule::Validate(const Options& options) {
  if (options.initial <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--retry_initial must be positive");
  }
  if (options.max < options.initial) {
    return absl::InvalidArgumentError("--retry_max must be at least --retry_initial");
  }
  if (!(options.jitter_fraction >= 0.0 && options.jitter_fraction < 1.0)) {
    return absl::InvalidArgumentError("retry jitter must be in [0, 1)");
  }
  return absl::OkStatus();
}

RetrySchedule::RetrySchedule(Options options, std::mt19937_64* rng)
    : options_(options), rng_(rng) {}

absl::Duration RetrySchedule::Delay(int attempts) const {
  absl::Duration delay = options_.initial;
  const int doublings = std::min(std::max(attempts, 1) - 1, kDoublingsMax);
  for (int i = 0; i < doublings && delay < options_.max; ++i) delay *= 2;
  delay = std::min(delay, options_.max);
  if (rng_ != nullptr && options_.jitter_fraction > 0.0) {
    std::uniform_real_distribution<double> fraction(0.0, options_.jitter_fraction);
    delay -= delay * fraction(*rng_);
  }
  return delay;
}

void RetrySchedule::RecordDeferral(RetryState* state, absl::Time now, bool hold_domain) const {
  ++state->failed_attempts;
  state->next_attempt = RetriesAutomatically(hold_domain) ? NextAttempt(state->failed_attempts, now)
                                                          : absl::InfiniteFuture();
}

void RetrySchedule::ResetForFlush(RetryState* state, absl::Time now) {
  state->failed_attempts = 0;
  state->next_attempt = now;
}

}  // namespace etrnd::delivery

// When to try a peer that is down again (SPEC 6: a backoff of at most 5 s).
// Pure: the link asks for the next delay after each failed attempt.
#pragma once

#include "absl/time/time.h"

namespace etrnd::peers {

inline constexpr absl::Duration kPeerBackoffInitial = absl::Milliseconds(100);
inline constexpr absl::Duration kPeerBackoffMax = absl::Seconds(5);

class PeerBackoff {
 public:
  // The delay before the next attempt after one more failure: 100 ms,
  // doubling, capped at kPeerBackoffMax.
  absl::Duration NextDelay();
  // The peer answered: the next failure starts again at the initial delay.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  int failures_ = 0;
};

}  // namespace etrnd::peers

// Where one loop turn spent its time, by phase. A turn over the
// --log_turns_over threshold is logged with this breakdown, so a long turn
// names its phase (and the kind of its slowest completion) instead of only
// its length.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace etrnd::reactor {

struct TurnPhase {
  uint32_t count = 0;                          // completions, timers or tasks run
  absl::Duration time = absl::ZeroDuration();  // all of them
  absl::Duration longest = absl::ZeroDuration();
  const char* longest_kind = "";  // completions only: the slowest one's op kind

  void Add(absl::Duration spent, const char* kind = "") {
    ++count;
    time += spent;
    if (spent > longest) {
      longest = spent;
      longest_kind = kind;
    }
  }
};

struct TurnProfile {
  absl::Duration total = absl::ZeroDuration();  // the ring wait excluded
  TurnPhase completions;
  TurnPhase timers;
  TurnPhase posted;                                 // posted and cross-core tasks
  TurnPhase background;                             // background completions, last
  absl::Duration teardowns = absl::ZeroDuration();  // closed connections freed
  absl::Duration loop_end_hooks = absl::ZeroDuration();
  absl::Duration sends = absl::ZeroDuration();  // FlushSends and cross-core wakes

  // "12 completions 8.1ms (longest 7.9ms, file); 0 timers; 3 tasks 200us
  // (longest 100us); 5 background 90us (longest 40us, recv); teardowns 0;
  // hooks 300us; sends 100us"
  std::string Describe() const;
};

}  // namespace etrnd::reactor

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

// How much a turn observer is told. kTotal: only `total`, for a histogram
// (one clock read per turn). kFull: every field, for a slow turn's log line;
// it reads the clock per completion and asks the kernel for the thread's CPU
// time and context switches twice per turn (four syscalls, a few percent of
// the CPU per message at full ingest), so only when someone reads it.
enum class TurnDetail { kTotal, kFull };

struct TurnProfile {
  absl::Duration total = absl::ZeroDuration();  // the ring wait excluded
  absl::Duration cpu = absl::ZeroDuration();    // the thread's CPU time in it
  int64_t preempted = 0;                        // involuntary context switches in it
  int64_t slept = 0;  // voluntary ones (a blocking call, a page fault's I/O)
  TurnPhase completions;
  TurnPhase timers;
  TurnPhase posted;                                 // posted and cross-core tasks
  TurnPhase background;                             // background completions, last
  absl::Duration teardowns = absl::ZeroDuration();  // closed connections freed
  absl::Duration loop_end_hooks = absl::ZeroDuration();
  absl::Duration sends = absl::ZeroDuration();  // FlushSends and cross-core wakes

  // "12 completions 8.1ms (longest 7.9ms, file); 0 timers; 3 tasks 200us
  // (longest 100us); 5 background 90us (longest 40us, recv); teardowns 0;
  // hooks 300us; sends 100us; cpu 9ms (preempted 0, slept 0)"
  std::string Describe() const;
};

}  // namespace etrnd::reactor

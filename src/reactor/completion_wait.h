// The reactor's one blocking call: submit what is queued and sleep until
// completions arrive. A busy reactor asks the kernel (6.12+,
// IORING_FEAT_MIN_TIMEOUT) to gather a batch of completions before waking it,
// for at most kBatchMinWait, so it wakes once per batch instead of once per
// completion. An idle reactor, or one whose next timer is near, waits as before.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace etrnd::reactor {

// How long a busy reactor may hold back completions it already has while
// more of a batch arrives. Bounds the latency the batching adds.
inline constexpr absl::Duration kBatchMinWait = absl::Microseconds(50);
// The largest batch a wait asks for.
inline constexpr unsigned kMaxWaitBatch = 16;
// A batching wait needs a general timeout (without one the kernel ends the
// wait when kBatchMinWait expires, even with nothing to hand back): with no
// timer pending, this one.
inline constexpr absl::Duration kBatchIdleTimeout = absl::Seconds(10);

struct WaitPlan {
  unsigned wait_nr = 1;
  std::optional<absl::Duration> timeout;  // none: until a completion
  absl::Duration min_wait;                // zero: wake on the first completion
};

// Pure: the wait for a turn. `last_completions`, the completions the last
// turn handled, is the size of the batch to wait for.
WaitPlan PlanWait(bool poll, std::optional<absl::Duration> until_timer, unsigned last_completions,
                  bool batching);

// IORING_FEAT_MIN_TIMEOUT and IORING_SETUP_DEFER_TASKRUN (without it a wait
// past the batching window still needs the whole batch).
bool BatchingSupported(const io_uring& ring);

int SubmitAndWait(io_uring* ring, const WaitPlan& plan);

}  // namespace etrnd::reactor

// The reactor's one blocking call: submit what is queued and sleep until a
// completion needs the loop.
//
// Most SQEs a turn queues are sends, and a send of a reply to a socket with
// room completes inside the submit: its CQE is there when io_uring_enter
// would start to wait, so a wait for one completion returned at once, the
// loop ran a turn for completions that need nothing, then entered the kernel
// again to sleep. The wait asks instead for one completion more than the
// queued SQEs that complete inline, so the first call sleeps until real work
// arrives. If one of them does not complete inline after all (a full socket
// buffer), the wait is cut at kInlineGuessWaitMax, so no event waits longer.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace etrnd::reactor {

// The longest a wrong inline guess can hold back a completion.
inline constexpr absl::Duration kInlineGuessWaitMax = absl::Microseconds(200);
// A send this size or smaller to a socket with room completes inline; bigger
// ones (delivery DATA) more often wait for the peer, so they are not counted.
inline constexpr size_t kInlineSendBytesMax = 16 * 1024;

// What a queued SQE is, as far as the wait cares.
struct QueuedSqe {
  uint8_t opcode = 0;
  uint8_t flags = 0;  // IOSQE_*
  size_t bytes = 0;   // a send's payload
};

// Pure: whether `sqe` posts its CQE during the submit (a small send, a cross-
// core MSG_RING's own CQE, a cancel). Linked or CQE-skipping SQEs never count.
bool CompletesInline(const QueuedSqe& sqe);

// The queued, not yet submitted SQEs of `ring` that CompletesInline.
unsigned CountInlineCompletions(const io_uring& ring);

// What to wait for.
struct WaitPlan {
  unsigned wait_nr = 1;
  std::optional<absl::Duration> timeout;  // none: until a completion
};

// Pure: the wait for a turn. `poll` asks for no sleep (work is left over);
// `until_timer` is the time to the next timer, if any; `inline_completions`
// is CountInlineCompletions.
WaitPlan PlanWait(bool poll, std::optional<absl::Duration> until_timer,
                  unsigned inline_completions);

// Submits the queued SQEs and waits as `plan` says: one io_uring_enter.
// Returns liburing's result (-ETIME when the timeout ends the wait).
int SubmitAndWait(io_uring* ring, const WaitPlan& plan);

}  // namespace etrnd::reactor

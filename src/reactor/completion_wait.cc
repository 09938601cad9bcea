#include "completion_wait.h"

#include <linux/time_types.h>
#include <sys/socket.h>

#include <algorithm>

namespace etrnd::reactor {

bool CompletesInline(const QueuedSqe& sqe) {
  // A link's members complete together or get cancelled; a skipped CQE never
  // shows up to be counted.
  if ((sqe.flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS | IOSQE_ASYNC)) !=
      0) {
    return false;
  }
  switch (sqe.opcode) {
    case IORING_OP_SENDMSG:
    case IORING_OP_SEND:
      return sqe.bytes <= kInlineSendBytesMax;
    case IORING_OP_MSG_RING:
    case IORING_OP_ASYNC_CANCEL:
    case IORING_OP_POLL_REMOVE:
    case IORING_OP_NOP:
      return true;
    default:
      return false;
  }
}

unsigned CountInlineCompletions(const io_uring& ring) {
  const io_uring_sq& sq = ring.sq;
  unsigned count = 0;
  // Queued since the last submit: from what the kernel has consumed up to
  // what io_uring_get_sqe handed out.
  for (unsigned i = __atomic_load_n(sq.khead, __ATOMIC_ACQUIRE); i != sq.sqe_tail; ++i) {
    const io_uring_sqe& sqe = sq.sqes[sq.array[i & *sq.kring_mask] & *sq.kring_mask];
    QueuedSqe queued;
    queued.opcode = sqe.opcode;
    queued.flags = sqe.flags;
    if (sqe.opcode == IORING_OP_SENDMSG) {
      const auto* msg = reinterpret_cast<const msghdr*>(sqe.addr);
      for (size_t piece = 0; piece < msg->msg_iovlen; ++piece) {
        queued.bytes += msg->msg_iov[piece].iov_len;
      }
    } else if (sqe.opcode == IORING_OP_SEND) {
      queued.bytes = sqe.len;
    }
    if (CompletesInline(queued)) ++count;
  }
  return count;
}

WaitPlan PlanWait(bool poll, std::optional<absl::Duration> until_timer,
                  unsigned inline_completions) {
  WaitPlan plan;
  if (poll) {
    plan.timeout = absl::ZeroDuration();
    return plan;
  }
  plan.timeout = until_timer;
  if (inline_completions == 0) return plan;
  plan.wait_nr = inline_completions + 1;
  plan.timeout = std::min(until_timer.value_or(absl::InfiniteDuration()), kInlineGuessWaitMax);
  return plan;
}

int SubmitAndWait(io_uring* ring, const WaitPlan& plan) {
  __kernel_timespec ts{};
  if (plan.timeout.has_value()) {
    const timespec t = absl::ToTimespec(std::max(*plan.timeout, absl::ZeroDuration()));
    ts = __kernel_timespec{t.tv_sec, t.tv_nsec};
  }
  io_uring_cqe* cqe = nullptr;
  return io_uring_submit_and_wait_timeout(ring, &cqe, plan.wait_nr,
                                          plan.timeout.has_value() ? &ts : nullptr, nullptr);
}

}  // namespace etrnd::reactor

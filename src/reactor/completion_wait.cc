#include "completion_wait.h"

#include <linux/time_types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "etrnd/common/check.h"

namespace etrnd::reactor {
namespace {

constexpr unsigned kFeatMinTimeout = 1U << 15;  // IORING_FEAT_MIN_TIMEOUT, 6.12
constexpr unsigned kEnterExtArg = 1U << 3;      // IORING_ENTER_EXT_ARG

__kernel_timespec ToKernelTimespec(absl::Duration d) {
  const timespec ts = absl::ToTimespec(std::max(d, absl::ZeroDuration()));
  return __kernel_timespec{ts.tv_sec, ts.tv_nsec};
}

// liburing's __io_uring_flush_sq, which 2.3 does not export (no SQPOLL here).
unsigned FlushSubmissions(io_uring* ring) {
  io_uring_sq& sq = ring->sq;
  const unsigned tail = sq.sqe_tail;
  if (sq.sqe_head != tail) {
    sq.sqe_head = tail;
    __atomic_store_n(sq.ktail, tail, __ATOMIC_RELEASE);
  }
  return tail - __atomic_load_n(sq.khead, __ATOMIC_ACQUIRE);
}

}  // namespace

WaitPlan PlanWait(bool poll, std::optional<absl::Duration> until_timer, unsigned last_completions,
                  bool batching) {
  WaitPlan plan;
  if (poll) {
    plan.timeout = absl::ZeroDuration();
    return plan;
  }
  plan.timeout = until_timer;
  if (!batching || last_completions < 2) return plan;
  if (until_timer.has_value() && *until_timer <= kBatchMinWait) return plan;
  plan.wait_nr = std::min(last_completions, kMaxWaitBatch);
  plan.min_wait = kBatchMinWait;
  if (!plan.timeout.has_value()) plan.timeout = kBatchIdleTimeout;
  return plan;
}

bool BatchingSupported(const io_uring& ring) {
  return (ring.features & kFeatMinTimeout) != 0 && (ring.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
}

int SubmitAndWait(io_uring* ring, const WaitPlan& plan) {
  if (plan.min_wait == absl::ZeroDuration()) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{};
    if (plan.timeout.has_value()) ts = ToKernelTimespec(*plan.timeout);
    return io_uring_submit_and_wait_timeout(ring, &cqe, plan.wait_nr,
                                            plan.timeout.has_value() ? &ts : nullptr, nullptr);
  }
  ETRND_CHECK(plan.timeout.has_value());
  ETRND_CHECK(ring->enter_ring_fd == ring->ring_fd);
  __kernel_timespec ts = ToKernelTimespec(*plan.timeout);
  io_uring_getevents_arg arg{};
  arg.pad = static_cast<uint32_t>(absl::ToInt64Microseconds(plan.min_wait));  // min_wait_usec
  arg.ts = reinterpret_cast<uint64_t>(&ts);
  const unsigned to_submit = FlushSubmissions(ring);
  const long result = syscall(__NR_io_uring_enter, ring->ring_fd, to_submit, plan.wait_nr,
                              IORING_ENTER_GETEVENTS | kEnterExtArg, &arg, sizeof(arg));
  return result < 0 ? -errno : static_cast<int>(result);
}

}  // namespace etrnd::reactor

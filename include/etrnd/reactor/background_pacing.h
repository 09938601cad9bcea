// When a reactor runs its background work (outbound deliveries, see
// Connection::SetBackground): always after the turn's foreground work, and,
// while clients are active, only as far as a time budget allows: the budget
// grows at busy_share_percent of the wall clock (up to kSlice) and every
// background slice spends what it took. A slice starts only with the budget
// full again: resuming on a sliver of it ran one completion per wake-up,
// and at low shares the wake-ups cost more CPU than the deliveries. A flush
// to a fast next hop is CPU-bound: unpaced, it would fill every CPU (its own
// core and the next hop's process), and a client's next command would wait
// for the scheduler rather than for etrnd. A flush over a real network is bound by its peer
// and rarely meets the budget. With no client active there is no budget.
// Pure policy: times come from the caller.
#pragma once

#include <algorithm>

#include "absl/time/time.h"
#include "etrnd/common/check.h"

namespace etrnd::reactor {

class BackgroundPacing {
 public:
  // The longest background slice while clients are active (the budget's
  // cap: a session's command waits at most about this long behind a flush).
  static constexpr absl::Duration kSlice = absl::Microseconds(100);
  static constexpr int kDefaultBusySharePercent = 3;
  // Clients count as active this long after their last accept or receive.
  static constexpr absl::Duration kClientsRecent = absl::Milliseconds(10);

  // busy_share_percent: 1..100 (100: never waits).
  BackgroundPacing(absl::Duration idle_slice, int busy_share_percent)
      : idle_slice_(idle_slice), busy_share_percent_(busy_share_percent) {
    ETRND_CHECK(busy_share_percent >= 1 && busy_share_percent <= 100);
  }

  // A client connected or sent something.
  void ClientSeen(absl::Time now) { client_seen_ = now; }
  bool clients_active(absl::Time now) const { return now - client_seen_ < kClientsRecent; }
  // Whether background work may run now, and until when.
  bool MayRun(absl::Time now) const {
    return !clients_active(now) || busy_share_percent_ == 100 || Budget(now) >= kSlice;
  }
  absl::Time SliceEnd(absl::Time now) const {
    if (!clients_active(now)) return now + idle_slice_;
    return now + (busy_share_percent_ == 100 ? kSlice : std::min(kSlice, Budget(now)));
  }
  // A background slice ran from started to ended.
  void Ran(absl::Time started, absl::Time ended) {
    if (!clients_active(started)) {
      budget_ = kSlice;  // quiet: the next busy period starts with a full slice
      budget_at_ = ended;
      return;
    }
    // The budget grew during the slice too: it is share x clock - work.
    budget_ = Budget(started) - (ended - started);
    budget_at_ = started;
  }
  // How long the ring may sleep before held background work may run.
  absl::Duration WaitBeforeNext(absl::Time now) const {
    if (MayRun(now)) return absl::ZeroDuration();
    const absl::Duration refill = (kSlice - Budget(now)) * 100 / busy_share_percent_;
    // Resumes once refilled, or once clients have gone quiet, if sooner.
    return std::min(refill + absl::Nanoseconds(1), client_seen_ + kClientsRecent - now);
  }

 private:
  // The budget at now: what was left, plus the share of the time since.
  absl::Duration Budget(absl::Time now) const {
    if (budget_at_ == absl::InfinitePast()) return kSlice;
    return std::min(kSlice, budget_ + (now - budget_at_) * busy_share_percent_ / 100);
  }

  absl::Duration idle_slice_;
  int busy_share_percent_;
  absl::Time client_seen_ = absl::InfinitePast();
  absl::Duration budget_ = kSlice;
  absl::Time budget_at_ = absl::InfinitePast();
};

}  // namespace etrnd::reactor

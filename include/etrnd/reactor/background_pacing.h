// When a reactor runs its background work (outbound deliveries, see
// Connection::SetBackground): always after the turn's foreground work, and,
// while clients are active, in short slices each followed by a rest as long
// as the slice. A flush to a fast next hop is CPU-bound: unpaced, it would
// fill every CPU (its own core and the next hop's process), and a client's
// next command would wait for the scheduler rather than for etrnd. A flush
// over a real network is bound by its peer and rarely rests. Pure policy:
// times come from the caller.
#pragma once

#include "absl/time/time.h"

namespace etrnd::reactor {

class BackgroundPacing {
 public:
  // A background slice while clients are active; the rest after it is this
  // long times kRestPerSlice.
  static constexpr absl::Duration kSlice = absl::Microseconds(100);
  static constexpr int kRestPerSlice = 1;
  // Clients count as active this long after their last accept or receive.
  static constexpr absl::Duration kClientsRecent = absl::Milliseconds(10);

  explicit BackgroundPacing(absl::Duration idle_slice) : idle_slice_(idle_slice) {}

  // A client connected or sent something.
  void ClientSeen(absl::Time now) { client_seen_ = now; }
  bool clients_active(absl::Time now) const { return now - client_seen_ < kClientsRecent; }
  // Whether background work may run now, and until when.
  bool MayRun(absl::Time now) const { return !clients_active(now) || now >= resume_at_; }
  absl::Time SliceEnd(absl::Time now) const {
    return now + (clients_active(now) ? kSlice : idle_slice_);
  }
  // A slice ran from started to ended.
  void Ran(absl::Time started, absl::Time ended) {
    resume_at_ =
        clients_active(started) ? ended + (ended - started) * kRestPerSlice : absl::InfinitePast();
  }
  // How long the ring may sleep before held background work may run.
  absl::Duration WaitBeforeNext(absl::Time now) const {
    return MayRun(now) ? absl::ZeroDuration() : resume_at_ - now;
  }

 private:
  const absl::Duration idle_slice_;
  absl::Time client_seen_ = absl::InfinitePast();
  absl::Time resume_at_ = absl::InfinitePast();
};

}  // namespace etrnd::reactor

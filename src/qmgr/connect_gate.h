// The way every flush job's outbound connection starts on a core. It bounds
// the connection attempts in flight (connect not yet answered), so a storm
// of jobs queues here instead of connecting all at once: at most
// kConnectsInFlightMax connects are submitted, and fail, per loop turn. An
// attempt to an address that failed a moment ago (DeadTargets) is not made:
// its recipients are deferred at once, as if the connection had failed.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "dead_targets.h"
#include "etrnd/qmgr/core_services.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::qmgr {

// Connects in flight per core. A refused connect costs a close, the job's
// deferrals and their log lines (~30 us), spread over turns by the turn
// budget. A next hop that answers takes its slot only until the TCP
// connection is up; one that drops SYNs holds it up to kConnectTimeoutMax,
// so the bound is wide enough for many offline customers at once (Postfix
// runs 100 smtp clients by default).
inline constexpr size_t kConnectsInFlightMax = 128;

// Attempts waiting for a slot (each running flush job has at most
// --connections_per_destination); past it an attempt is deferred at once.
inline constexpr size_t kConnectsWaitingMax = 65536;
// Waiting attempts looked at per call when a slot frees: skipped ones take
// no slot, so without this bound one call could defer them all.
inline constexpr size_t kConnectWakeSlice = 64;
// Skipped attempts whose deferrals are reported per loop turn (each: a log
// line per recipient, the job's end and its "flush ... done" line, ~40 us):
// 2e4 jobs to a dead next hop are spread over turns instead of filling
// each turn's whole task budget.
inline constexpr size_t kSkipsPerTurn = 16;

class ConnectGate {
 public:
  using Connect = std::function<void(DeliveryAttempt)>;

  // `connect` opens the connection (CoreServices::Deliver).
  ConnectGate(reactor::Reactor& reactor, Connect connect);

  // Starts the attempt now, when a slot is free and none waits; else it
  // waits its turn (FIFO). A skipped or refused attempt reports, later from
  // the loop, a connection-level deferral for every recipient, then
  // `finished`, exactly like a failed connection.
  void Deliver(DeliveryAttempt attempt);
  // Shutdown: attempts still waiting are deferred, none starts any more.
  void Stop();

  size_t connecting() const { return connecting_; }
  size_t waiting() const { return waiting_.size(); }
  // Attempts deferred without connecting, ever.
  uint64_t skipped() const { return skipped_; }
  const DeadTargets& dead_targets() const { return dead_; }

 private:
  // Connects, or skips when the target is remembered dead.
  void Dispatch(DeliveryAttempt attempt);
  void Start(DeliveryAttempt attempt);
  // Defers every recipient of the attempt, from a later turn (the caller
  // may be in the middle of launching the job's connections).
  void Skip(DeliveryAttempt attempt, std::string reply);
  // Reports kSkipsPerTurn skipped attempts; posts itself for the rest.
  void ReportSkipped();
  void OnSlotFree();

  reactor::Reactor& reactor_;
  Connect connect_;
  DeadTargets dead_;
  std::deque<DeliveryAttempt> waiting_;
  // Skipped, not yet reported; bounded like waiting_ (one entry per attempt
  // a running job has out).
  std::deque<std::pair<DeliveryAttempt, std::string>> skipped_queue_;
  bool report_posted_ = false;
  size_t connecting_ = 0;
  uint64_t skipped_ = 0;
  bool wake_posted_ = false;
  bool stopped_ = false;
};

}  // namespace etrnd::qmgr

#include "connect_gate.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"

namespace etrnd::qmgr {

ConnectGate::ConnectGate(reactor::Reactor& reactor, Connect connect)
    : reactor_(reactor), connect_(std::move(connect)) {}

void ConnectGate::Deliver(DeliveryAttempt attempt) {
  if (stopped_) {
    Skip(std::move(attempt), "not tried: shutting down");
    return;
  }
  if (waiting_.empty() && connecting_ < kConnectsInFlightMax) {
    Dispatch(std::move(attempt));
    return;
  }
  if (waiting_.size() >= kConnectsWaitingMax) {
    Skip(std::move(attempt), "not tried: too many connection attempts waiting");
    return;
  }
  waiting_.push_back(std::move(attempt));
}

void ConnectGate::Stop() {
  stopped_ = true;
  while (!waiting_.empty()) {
    Skip(std::move(waiting_.front()), "not tried: shutting down");
    waiting_.pop_front();
  }
}

void ConnectGate::Dispatch(DeliveryAttempt attempt) {
  const absl::Time now = absl::Now();
  std::optional<DeadTargets::Failure> failure;
  if (!attempt.retry_dead_target) failure = dead_.Find(attempt.target, now);
  if (failure.has_value()) {
    Skip(std::move(attempt), absl::StrCat("not tried: ", attempt.target.ToString(), " failed ",
                                          absl::ToInt64Milliseconds(now - failure->at), " ms ago (",
                                          failure->why, ")"));
    return;
  }
  Start(std::move(attempt));
}

void ConnectGate::Start(DeliveryAttempt attempt) {
  ETRND_CHECK(connecting_ < kConnectsInFlightMax);
  ++connecting_;
  // Shared by the wrappers: whether the slot is still held, and the first
  // connection-level reply (why the attempt failed, for DeadTargets).
  struct Slot {
    bool held = true;
    std::string why;
  };
  auto slot = std::make_shared<Slot>();
  const SocketAddress target = attempt.target;
  attempt.connected = [this, slot, target] {
    ETRND_CHECK(slot->held);
    slot->held = false;
    dead_.Forget(target);
    ETRND_CHECK(connecting_ > 0);
    --connecting_;
    OnSlotFree();
  };
  attempt.outcomes = [slot,
                      sink = std::move(attempt.outcomes)](const smtp::RecipientOutcome& outcome) {
    if (slot->held && slot->why.empty() && outcome.connection_level) slot->why = outcome.reply;
    sink(outcome);
  };
  attempt.finished = [this, slot, target, finished = std::move(attempt.finished)] {
    if (slot->held) {  // never connected: refused, unreachable, timed out
      slot->held = false;
      dead_.Record(target, absl::Now(), slot->why.empty() ? "connect failed" : slot->why);
      ETRND_CHECK(connecting_ > 0);
      --connecting_;
      OnSlotFree();
    }
    finished();
  };
  connect_(std::move(attempt));
}

void ConnectGate::Skip(DeliveryAttempt attempt, std::string reply) {
  ++skipped_;
  skipped_queue_.emplace_back(std::move(attempt), std::move(reply));
  if (!report_posted_) {
    report_posted_ = true;
    reactor_.Post([this] { ReportSkipped(); });
  }
}

void ConnectGate::ReportSkipped() {
  report_posted_ = false;
  for (size_t n = 0; n < kSkipsPerTurn && !skipped_queue_.empty(); ++n) {
    auto [attempt, reply] = std::move(skipped_queue_.front());
    skipped_queue_.pop_front();
    for (const smtp::OutboundMessage& message : attempt.messages) {
      for (size_t i = 0; i < message.recipients.size(); ++i) {
        smtp::RecipientOutcome outcome;
        outcome.token = message.token;
        outcome.recipient_index = i;
        outcome.kind = smtp::RecipientOutcome::kDeferred;
        outcome.reply = reply;
        outcome.connection_level = true;
        attempt.outcomes(outcome);
      }
    }
    attempt.finished();  // may Skip() again: queued behind the rest
  }
  if (!skipped_queue_.empty() && !report_posted_) {
    report_posted_ = true;
    reactor_.Post([this] { ReportSkipped(); });
  }
}

void ConnectGate::OnSlotFree() {
  size_t looked_at = 0;
  while (!waiting_.empty() && connecting_ < kConnectsInFlightMax && !stopped_) {
    if (looked_at++ == kConnectWakeSlice) {
      // The rest in a later turn (Posts run under the turn's budget).
      if (!wake_posted_) {
        wake_posted_ = true;
        reactor_.Post([this] {
          wake_posted_ = false;
          OnSlotFree();
        });
      }
      return;
    }
    DeliveryAttempt attempt = std::move(waiting_.front());
    waiting_.pop_front();
    Dispatch(std::move(attempt));
  }
}

}  // namespace etrnd::qmgr

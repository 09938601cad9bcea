// Per-domain scheduling: a domain's state, its next attempt, the start of
// its flush, and the operator's holds (etrnctl hold/release).
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/qmgr/queue_service.h"
#include "flush_job.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

QueueService::DomainState& QueueService::StateOf(const std::string& domain) {
  auto& state = domains_[domain];
  if (state == nullptr) {
    state = std::make_unique<DomainState>();
    state->name = domain;
    domain_order_.push_back(state.get());
  }
  return *state;
}

void QueueService::ScheduleAttempt(const std::string& domain, absl::Duration delay) {
  DomainState& state = StateOf(domain);
  if (state.timer != 0) core_.reactor().CancelTimer(state.timer);
  state.timer = core_.reactor().RunAfter(delay, [this, domain] {
    auto it = domains_.find(domain);
    if (it == domains_.end()) return;
    it->second->timer = 0;
    StartFlush(domain);
  });
}

void QueueService::StartFlush(const std::string& domain) {
  DomainState& state = StateOf(domain);
  if (state.flushing || stopped_ || index_.IsHeld(domain)) return;
  const size_t queued = index_.CountDomain(domain);
  if (queued == 0) return;
  // A domain that left the table keeps its customers' mail queued (no route,
  // no attempt, no bounce); only bounces queued while it was unserved go out.
  const bool served = core_.table().Match(domain) != nullptr;
  if (!served && state.routed_when_unserved.empty()) {
    ETRND_LOG_INFO("flush %s: not in the domains table: %d messages stay queued", domain, queued);
    return;
  }
  auto job = std::make_shared<FlushJob>();
  job->domain = domain;
  job->served = served;
  job->started = absl::Now();
  state.flushing = true;
  state.flush_again = false;
  job->retry_dead_targets = state.etrn_named;
  state.etrn_named = false;
  ++flushes_running_;
  ETRND_LOG_INFO_EVENT("flush", {{"domain", domain}, {"messages", queued}}, "flush %s: %d messages",
                       domain, queued);
  RunFlush(job);
  SetUpFlushSlice(job);
}

void QueueService::SetHeld(const std::string& domain, bool held) {
  const bool was_held = index_.IsHeld(domain);
  index_.SetHeld(domain, held);
  if (held || !was_held) return;
  // Released: a domain that retries on its own gets its attempt now; a
  // `hold` domain of the table waits for ETRN as before.
  if (index_.CountDomain(domain) == 0 || stopped_) return;
  const config::DomainEntry* entry = core_.table().Match(domain);
  if (entry == nullptr || entry->hold) return;
  DomainState& state = StateOf(domain);
  delivery::RetrySchedule::ResetForFlush(&state.retry, absl::Now());
  if (!state.flushing) ScheduleAttempt(domain, absl::ZeroDuration());
}

}  // namespace etrnd::qmgr

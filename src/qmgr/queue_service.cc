#include "etrnd/qmgr/queue_service.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/delivery/retry_schedule.h"
#include "flush_job.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

QueueService::QueueService(CoreServices& core)
    : core_(core),
      reader_(core.reactor(), core.options().spool_dir),
      postmaster_domain_(DomainOf(core.options().postmaster)) {
  core_.reactor().RunAfter(ExpirySweepInterval(core_.options().max_queue_lifetime),
                           [this] { SweepExpired(); });
}

QueueService::~QueueService() = default;

size_t QueueService::queued_domains() const { return index_.domains_count(); }

EtrnShardResult QueueService::FlushForEtrn(const etrn::EtrnPlan& plan, const IpAddress& client,
                                           bool operator_request) {
  EtrnShardResult result;
  const config::DomainsTable& table = core_.table();
  std::vector<std::string> matched;
  auto consider = [&](std::string_view domain, size_t /*messages*/ = 0) {
    if (operator_request || etrn::DomainAllowed(table, plan, domain, client)) {
      matched.emplace_back(domain);
    }
  };
  switch (plan.argument.form) {
    case etrn::EtrnForm::kNode:
      if (index_.CountDomain(plan.argument.name) > 0) matched.push_back(plan.argument.name);
      break;
    case etrn::EtrnForm::kSubtree:
      index_.ForEachQueuedDomainUnder(plan.argument.name, consider);
      break;
    case etrn::EtrnForm::kQueue:
      for (const config::DomainEntry* entry : table.QueueMembers(plan.argument.name)) {
        if (!entry->subdomains_only) {
          if (index_.CountDomain(entry->domain) > 0) consider(entry->domain);
          continue;
        }
        index_.ForEachQueuedDomainUnder(entry->domain, [&](std::string_view domain, size_t) {
          if (domain != entry->domain) consider(domain);
        });
      }
      break;
  }
  // Held domains deliver nothing, not even on ETRN: a held node, or an @/#
  // whose every queued domain is held, is answered 458.
  const size_t matched_before_holds = matched.size();
  std::erase_if(matched, [this](const std::string& domain) { return held_.contains(domain); });
  if ((plan.argument.form == etrn::EtrnForm::kNode && held_.contains(plan.argument.name)) ||
      (matched.empty() && matched_before_holds > 0)) {
    result.refused_for_resources = true;
    result.held = true;
    return result;
  }
  for (const std::string& domain : matched) result.messages += index_.CountDomain(domain);
  if (matched.empty()) return result;
  if (flushes_running_ >= kFlushesRunningMax || stopped_) {
    result.refused_for_resources = true;
    return result;
  }
  for (const std::string& domain : matched) {
    DomainState& state = StateOf(domain);
    delivery::RetrySchedule::ResetForFlush(&state.retry, absl::Now());
    // A running flush is not started twice; the count is still reported.
    if (!state.flushing) ScheduleAttempt(domain, absl::ZeroDuration());
  }
  return result;
}

void QueueService::OnTableChanged() {
  // Domains keep their queued mail whatever the new table says; those no
  // longer served are reported so the operator sees them. A served non-hold
  // domain with mail and no attempt pending (back in the table, or no longer
  // `hold`) gets one now. A reload during a walk starts it over.
  reindex_cursor_ = 0;
  reindex_orphaned_ = 0;
  if (reindex_running_) return;  // the running walk picks up the restart
  reindex_running_ = true;
  ReindexSlice();
}

void QueueService::ReindexSlice() {
  ETRND_CHECK(reindex_running_);
  const size_t end = std::min(domain_order_.size(), reindex_cursor_ + kTableReindexSlice);
  for (; reindex_cursor_ < end && !stopped_; ++reindex_cursor_) {
    DomainState& state = *domain_order_[reindex_cursor_];
    if (index_.CountDomain(state.name) == 0) continue;
    const config::DomainEntry* entry = core_.table().Match(state.name);
    if (entry == nullptr) {
      ++reindex_orphaned_;
    } else if (!entry->hold && !state.flushing && state.timer == 0) {
      ScheduleAttempt(state.name, kArrivalBatchDelay);
    }
  }
  if (reindex_cursor_ < domain_order_.size() && !stopped_) {
    core_.reactor().Post([this] { ReindexSlice(); });
    return;
  }
  reindex_running_ = false;
  if (reindex_orphaned_ > 0) {
    ETRND_LOG_WARNING(
        "queue shard %d: %d domains with queued mail are no longer in the domains "
        "table; their mail stays queued",
        core_.index(), reindex_orphaned_);
  }
}

void QueueService::EvictSegment(spool::SegmentKey segment) { reader_.EvictSegment(segment); }

void QueueService::Stop() {
  stopped_ = true;
  reader_.Shutdown();
  for (auto& [domain, state] : domains_) {
    if (state->timer != 0) {
      core_.reactor().CancelTimer(state->timer);
      state->timer = 0;
    }
  }
}

}  // namespace etrnd::qmgr

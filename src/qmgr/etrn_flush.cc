// ETRN on the owner core: the reply's counts first, from the index's
// aggregates (etrn/etrn_match.h), whatever is queued; then the flush of each
// matched domain is started by a walk over the index in slices of
// kEtrnFlushStartSlice domains per loop turn, continued by a Post to self.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/etrn/etrn_match.h"
#include "etrnd/qmgr/queue_service.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

namespace {

// Domains visited per loop turn by an ETRN walk. Each visit may start a
// flush at once (its log line, route, first set-up slice and reads: ~15 us),
// so a slice stays well under a millisecond.
constexpr size_t kEtrnFlushStartSlice = 32;
// Walks in progress on one core; past it an `@`/`#` ETRN is answered 458.
constexpr size_t kEtrnWalksMax = 256;
// Back-pressure: while kFlushesRunningMax flushes run, a walk waits this
// long and looks again; with less room than a slice, it visits only as many
// domains as there is room for, so the bound is never passed.
constexpr absl::Duration kEtrnWalkPause = absl::Milliseconds(20);
static_assert(kEtrnFlushStartSlice < kFlushesRunningMax);

}  // namespace

// The matched domains of one `@`/`#` ETRN still to be started. The cursor is
// a domain name, so domains queued or gone between slices are found or
// skipped.
struct QueueService::EtrnWalk {
  etrn::EtrnPlan plan;
  etrn::EtrnAsker asker;
  std::vector<etrn::EtrnWalkRoot> roots;
  size_t root = 0;                    // the one being walked
  std::optional<std::string> cursor;  // within it; nullopt: from its start
};

EtrnShardResult QueueService::CountForEtrn(const etrn::EtrnPlan& plan, const IpAddress& client,
                                           bool operator_request) {
  EtrnShardResult result;
  const config::DomainsTable& table = core_.table();
  const etrn::EtrnAsker asker{client, operator_request};
  const queue::QueuedCounts matched = etrn::CountEtrnMatches(table, plan, asker, index_);
  const bool node = plan.argument.form == etrn::EtrnForm::kNode;
  // Held domains deliver nothing, not even on ETRN: a held node, or an @/#
  // whose every queued domain is held, is answered 458.
  if ((node && index_.IsHeld(plan.argument.name)) ||
      (!matched.empty() && matched.held_domains == matched.domains)) {
    result.refused_for_resources = true;
    result.held = true;
    return result;
  }
  result.messages = matched.unheld_messages();
  if (matched.empty()) return result;
  if (flushes_running_ >= kFlushesRunningMax || stopped_ ||
      (!node && etrn_walks_running_ >= kEtrnWalksMax)) {
    result.refused_for_resources = true;
    return result;
  }
  result.starts = true;
  return result;
}

EtrnShardResult QueueService::FlushForEtrn(const etrn::EtrnPlan& plan, const IpAddress& client,
                                           bool operator_request) {
  const EtrnShardResult result = CountForEtrn(plan, client, operator_request);
  if (!result.starts) return result;
  if (plan.argument.form == etrn::EtrnForm::kNode) {
    FlushOnEtrn(plan.argument.name);
    return result;
  }
  auto walk = std::make_shared<EtrnWalk>();
  walk->plan = plan;
  walk->asker = etrn::EtrnAsker{client, operator_request};
  walk->roots = etrn::EtrnWalkRoots(core_.table(), plan);
  ++etrn_walks_running_;
  // The reply leaves before any of the walk runs.
  core_.reactor().Post([this, walk] { EtrnWalkSlice(walk); });
  return result;
}

void QueueService::FlushOnEtrn(const std::string& domain) {
  DomainState& state = StateOf(domain);
  delivery::RetrySchedule::ResetForFlush(&state.retry, absl::Now());
  state.etrn_named = true;
  // A running flush is not started twice; the count is still reported.
  if (!state.flushing) ScheduleAttempt(domain, absl::ZeroDuration());
}

void QueueService::StartFlushForWalk(const std::string& domain) {
  DomainState& state = StateOf(domain);
  delivery::RetrySchedule::ResetForFlush(&state.retry, absl::Now());
  if (state.flushing) return;
  // Started here, not by a zero-delay timer, so flushes_running_ counts it
  // before the walk looks at the room again.
  if (state.timer != 0) {
    core_.reactor().CancelTimer(state.timer);
    state.timer = 0;
  }
  StartFlush(domain);
}

void QueueService::EtrnWalkSlice(const std::shared_ptr<EtrnWalk>& walk) {
  ETRND_CHECK(etrn_walks_running_ > 0);
  const size_t room =
      flushes_running_ < kFlushesRunningMax ? kFlushesRunningMax - flushes_running_ : 0;
  if (!stopped_ && room == 0) {
    core_.reactor().RunAfter(kEtrnWalkPause, [this, walk] { EtrnWalkSlice(walk); });
    return;
  }
  const config::DomainsTable& table = core_.table();
  // A visit starts at most one flush: visiting no more than the room stops
  // the walk exactly at kFlushesRunningMax.
  size_t budget = std::min(kEtrnFlushStartSlice, room);
  // Started once the index walk is over: a flush must not run inside it.
  std::vector<std::string> matched;
  auto visit = [&](std::string_view domain, size_t /*messages*/) {
    --budget;
    if (index_.IsHeld(domain)) return;
    if (etrn::EtrnWalkTakes(table, walk->plan, walk->asker, domain)) {
      matched.emplace_back(domain);
    }
  };
  while (!stopped_ && budget > 0 && walk->root < walk->roots.size()) {
    const etrn::EtrnWalkRoot& root = walk->roots[walk->root];
    if (!root.include_below) {
      const size_t messages = index_.CountDomain(root.parent);
      if (messages > 0) {
        visit(root.parent, messages);
      } else {
        --budget;
      }
      ++walk->root;
      continue;
    }
    std::optional<std::string> after = walk->cursor;
    if (!after.has_value() && !root.include_parent) after = root.parent;
    walk->cursor = index_.ForEachQueuedDomainUnderAfter(root.parent, after, budget, visit);
    if (!walk->cursor.has_value()) {
      ++walk->root;
      budget -= budget > 0 ? 1 : 0;  // an empty root still costs a lookup
    }
  }
  for (const std::string& domain : matched) StartFlushForWalk(domain);
  if (!stopped_ && walk->root < walk->roots.size()) {
    core_.reactor().Post([this, walk] { EtrnWalkSlice(walk); });
    return;
  }
  --etrn_walks_running_;
}

}  // namespace etrnd::qmgr

// ODMR turns, owner-core side: a turn job is a flush job whose batches go to
// the ATRN connection's core instead of to connections of its own (see
// odmr_turn.h). Outcomes come back here and are finished exactly as a
// flush's are (completion record first, bounce on 5xx).
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/etrn/atrn_policy.h"
#include "etrnd/qmgr/queue_service.h"
#include "flush_job.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

namespace {

// Batches of one job at the turn at once: the next is read and ready while
// the customer takes the current one, and the turn's memory stays bounded
// by jobs x this x --messages_per_connection.
constexpr size_t kTurnBatchesInFlight = 2;

}  // namespace

// The plan's domains on this shard still to be looked at: named ones first,
// then each subtree's queued domains from a cursor (a domain name, so
// domains queued or gone between slices are found or skipped).
struct QueueService::TurnWalk {
  etrn::AtrnPlan plan;
  std::string user, client;
  int turn_core = -1;
  uint64_t turn_id = 0;
  TurnCounted counted;
  size_t named = 0;                       // next of plan.domains
  size_t root = 0;                        // the subtree being walked
  std::optional<std::string> cursor;      // within it
  absl::flat_hash_set<std::string> seen;  // named and under a root: one job
};

void QueueService::StartTurn(const etrn::AtrnPlan& plan, const std::string& user,
                             const std::string& client, int turn_core, uint64_t turn_id,
                             TurnCounted counted) {
  ETRND_CHECK(!plan.refused());
  auto walk = std::make_shared<TurnWalk>();
  walk->plan = plan;
  walk->user = user;
  walk->client = client;
  walk->turn_core = turn_core;
  walk->turn_id = turn_id;
  walk->counted = std::move(counted);
  TurnWalkSlice(walk);
}

void QueueService::TurnWalkSlice(const std::shared_ptr<TurnWalk>& walk) {
  const config::DomainsTable& table = core_.table();
  TurnShardResult started;
  size_t budget = kTurnStartSlice;
  auto consider = [&](const std::string& domain) {
    if (!walk->seen.insert(domain).second) return;
    DomainState& state = StateOf(domain);
    const char* skipped = nullptr;
    if (index_.IsHeld(domain)) {
      skipped = "held by the operator";
    } else if (state.flushing) {
      // The same messages are never in two deliveries at once.
      skipped = "a delivery is running";
    } else if (stopped_ || flushes_running_ >= kFlushesRunningMax) {
      skipped = "too many flushes running";
    } else if (table.Match(domain) == nullptr) {
      skipped = "not in the domains table";
    }
    if (skipped != nullptr) {
      ETRND_LOG_INFO("ATRN %s: %s not turned: %s", walk->user, domain, skipped);
      return;
    }
    started.messages += index_.CountDomain(domain);
    ++started.jobs;
    StartTurnJob(domain, walk->user, walk->client, walk->turn_core, walk->turn_id);
  };
  const std::vector<std::string>& named = walk->plan.domains;
  while (!stopped_ && budget > 0 && walk->named < named.size()) {
    const std::string& domain = named[walk->named++];
    --budget;
    if (index_.CountDomain(domain) > 0) consider(domain);
  }
  const std::vector<std::string>& roots = walk->plan.subtrees;
  while (!stopped_ && budget > 0 && walk->root < roots.size()) {
    const std::string& root = roots[walk->root];
    // Strict subdomains only: the walk starts after the root itself.
    const std::optional<std::string> after = walk->cursor.has_value() ? walk->cursor : root;
    walk->cursor = index_.ForEachQueuedDomainUnderAfter(
        root, after, budget, [&](std::string_view domain, size_t /*messages*/) {
          --budget;
          if (etrn::UserMayAtrn(table, walk->user, domain)) consider(std::string(domain));
        });
    if (!walk->cursor.has_value()) {
      ++walk->root;
      budget -= budget > 0 ? 1 : 0;  // an empty root still costs a lookup
    }
  }
  const bool last = stopped_ || (walk->named == named.size() && walk->root == roots.size());
  // Before any job started here can send a batch or end: their first
  // set-up slice runs in a later turn (StartTurnJob).
  walk->counted(started, last);
  if (!last) core_.reactor().Post([this, walk] { TurnWalkSlice(walk); });
}

void QueueService::StartTurnJob(const std::string& domain, const std::string& user,
                                const std::string& client, int turn_core, uint64_t turn_id) {
  DomainState& state = StateOf(domain);
  ETRND_CHECK(!state.flushing);
  auto job = std::make_shared<FlushJob>();
  job->domain = domain;
  job->served = true;
  job->started = absl::Now();
  job->remote_mta = "odmr " + client;
  job->turn_core = turn_core;
  job->turn_id = turn_id;
  job->turn_job_id = next_turn_job_id_++;
  turn_jobs_.emplace(job->turn_job_id, job);
  state.flushing = true;
  state.flush_again = false;
  if (state.timer != 0) {  // the turn is this domain's attempt
    core_.reactor().CancelTimer(state.timer);
    state.timer = 0;
  }
  ++flushes_running_;
  ETRND_LOG_INFO_EVENT("flush",
                       {{"domain", domain},
                        {"messages", index_.CountDomain(domain)},
                        {"atrn_user", user},
                        {"client", client}},
                       "ATRN %s from %s: turning %s, %d messages", user, client, domain,
                       index_.CountDomain(domain));
  // The walk that started it reports it first (TurnWalkSlice).
  core_.reactor().Post([this, job] { SetUpFlushSlice(job); });
}

void QueueService::LaunchTurnBatches(const std::shared_ptr<FlushJob>& job) {
  ETRND_CHECK(job->is_turn());
  const size_t want = core_.options().messages_per_connection;
  while (!job->host_failed && !stopped_ && job->connections_open < kTurnBatchesInFlight) {
    std::vector<smtp::OutboundMessage> batch;
    std::vector<size_t> tokens;
    if (!TakeBatch(job, want, &batch, &tokens)) break;
    if (batch.empty()) continue;  // only failed reads were taken
    ++job->connections_open;
    // The bodies (views into job->items) stay here, untouched, until the
    // turn reports the batch done.
    core_.SendTurnBatch(job->turn_core, job->turn_id, job->turn_job_id, std::move(batch));
  }
  ETRND_CHECK(job->connections_open <= kTurnBatchesInFlight);
}

void QueueService::OnTurnOutcomes(uint64_t job_id,
                                  const std::vector<smtp::RecipientOutcome>& outcomes) {
  auto it = turn_jobs_.find(job_id);
  // A job lives until its last batch is done, and answers come before that.
  ETRND_CHECK(it != turn_jobs_.end());
  std::shared_ptr<FlushJob> job = it->second;
  for (const smtp::RecipientOutcome& outcome : outcomes) OnOutcome(job, outcome);
}

void QueueService::OnTurnBatchDone(uint64_t job_id, const std::vector<size_t>& tokens) {
  auto it = turn_jobs_.find(job_id);
  ETRND_CHECK(it != turn_jobs_.end());
  std::shared_ptr<FlushJob> job = it->second;
  // No next address for a turn: messages the connection failed stay queued.
  OnConnectionFinished(job, tokens, /*tls_failed_at=*/std::string::npos);
}

void QueueService::FinishTurnJob(const std::shared_ptr<FlushJob>& job) {
  ETRND_CHECK(job->is_turn() && job->connections_open == 0);
  const size_t erased = turn_jobs_.erase(job->turn_job_id);
  ETRND_CHECK(erased == 1);
  core_.SendTurnJobDone(job->turn_core, job->turn_id);
}

}  // namespace etrnd::qmgr

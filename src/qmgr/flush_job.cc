// A flush job's steps: set-up in slices, route resolution, reads ahead in
// flush order, batches to delivery connections, outcomes, and the end of
// the flush (next attempt).
#include "flush_job.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/time/clock.h"
#include "connect_gate.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/dsn.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/qmgr/delivery_connection.h"
#include "etrnd/qmgr/queue_service.h"
#include "queue_service_internal.h"
#include "sliced_release.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

void QueueService::SetUpFlushSlice(const std::shared_ptr<FlushJob>& job) {
  static_assert(sizeof(FlushJob::Item) <= 64, "1e5 of them per big flush");
  ETRND_CHECK(!job->setup_done);
  ++flush_setup_slices_;
  if (job->finished || stopped_) {
    job->setup_done = true;
    MaybeFinishFlush(job);
    return;
  }
  DomainState& state = StateOf(job->domain);
  // One allocation, not a doubling series of copies of a growing vector.
  if (job->items.empty()) job->items.reserve(index_.CountDomain(job->domain));
  job->setup_cursor = index_.ForEachMessageAfter(
      job->domain, job->setup_cursor, kFlushSetupSlice,
      [&](const queue::MessageKey& key, const queue::RecipientIndexSet& recipients) {
        if (!job->served && !state.routed_when_unserved.contains(key)) {
          ++job->held;
          return;
        }
        FlushJob::Item& item = job->items.emplace_back();
        item.key = key;
        recipients.ForEach([&item](uint32_t index) { item.recipient_indexes.push_back(index); });
      });
  if (job->setup_cursor.has_value()) {
    core_.reactor().Post([this, job] { SetUpFlushSlice(job); });
  } else {
    job->setup_done = true;
    if (job->held > 0) {
      ETRND_LOG_INFO("flush %s: not in the domains table: %d messages stay queued", job->domain,
                     job->held);
    }
  }
  AdvanceFlush(job);
}

void QueueService::RunFlush(const std::shared_ptr<FlushJob>& job) {
  // A domain outside the table (here only bounces to senders elsewhere, see
  // StartFlush) is routed like any MTA would: by MX.
  const config::DomainEntry* entry = core_.table().Match(job->domain);
  config::NextHop next_hop;
  if (entry != nullptr) {
    next_hop = entry->next_hop;
    job->tls_policy = entry->tls;
  } else {
    next_hop.kind = config::NextHop::Kind::kMx;
  }
  job->remote_mta = next_hop.kind == config::NextHop::Kind::kMx ? "mx" : next_hop.ToString();
  core_.ResolveNextHop(
      job->domain, next_hop,
      [this, job](absl::StatusOr<std::vector<delivery::RouteTarget>> targets) {
        if (!targets.ok()) {
          job->last_error = std::string(targets.status().message());
          job->host_failed = true;
          if (absl::IsNotFound(targets.status()) || absl::IsFailedPrecondition(targets.status())) {
            BounceWholeFlush(job,
                             absl::IsFailedPrecondition(targets.status())
                                 ? std::string(delivery::kNullMxReply)
                                 : "550 5.1.2 " + job->domain + ": Host or domain name not found");
          }
          AdvanceFlush(job);
          return;
        }
        if (targets->empty()) {
          job->last_error = "no address for the next hop";
          job->host_failed = true;
        }
        job->targets.clear();
        job->target_hosts.clear();
        for (delivery::RouteTarget& target : *targets) {
          job->targets.push_back(target.address);
          job->target_hosts.push_back(std::move(target.host));
        }
        AdvanceFlush(job);
      });
}

bool QueueService::FlushJob::HasWork() const {
  return !retry_tokens.empty() || next_item < items.size() || !setup_done;
}

void QueueService::AdvanceFlush(const std::shared_ptr<FlushJob>& job) {
  if (job->finished) return;
  if (job->bounce_reply.has_value()) {
    BounceLoaded(job);
  } else {
    LaunchConnections(job);
  }
  IssueReads(job);
  MaybeFinishFlush(job);
}

void QueueService::IssueReads(const std::shared_ptr<FlushJob>& job) {
  if (stopped_ || (job->host_failed && !job->bounce_reply.has_value())) return;
  ETRND_CHECK(job->next_item <= job->next_read);
  while (job->next_read < job->items.size() &&
         job->next_read - job->next_item < kFlushReadAheadMessages) {
    const size_t token = job->next_read++;
    FlushJob::Item& item = job->items[token];
    ETRND_CHECK(item.read == FlushJob::Item::Read::kNotRead);
    item.read = FlushJob::Item::Read::kReading;
    ++job->reads_outstanding;
    reader_.Read(item.location(), [this, job, token](absl::StatusOr<spool::SpoolMessage> message) {
      OnItemRead(job, token, std::move(message));
    });
  }
  ETRND_CHECK(job->reads_outstanding <= kFlushReadAheadMessages);
}

void QueueService::OnItemRead(const std::shared_ptr<FlushJob>& job, size_t token,
                              absl::StatusOr<spool::SpoolMessage> message) {
  ETRND_CHECK(job->reads_outstanding > 0);
  --job->reads_outstanding;
  ETRND_CHECK(token < job->items.size());
  FlushJob::Item& item = job->items[token];
  ETRND_CHECK(item.read == FlushJob::Item::Read::kReading);
  if (message.ok()) {
    item.message = std::make_unique<spool::SpoolMessage>(std::move(*message));
    item.read = FlushJob::Item::Read::kLoaded;
  } else {
    // Stays queued; recovery at the next start decides what the record holds.
    if (!absl::IsCancelled(message.status())) {
      const spool::RecordLocation location = item.location();
      ETRND_LOG_ERROR("flush %s: cannot read message at %d/%d/%d: %s", job->domain, location.core,
                      location.segment_id, location.offset,
                      std::string(message.status().message()));
    }
    item.read = FlushJob::Item::Read::kFailed;
  }
  AdvanceFlush(job);
}

bool QueueService::TakeBatch(const std::shared_ptr<FlushJob>& job, size_t want,
                             std::vector<smtp::OutboundMessage>* batch,
                             std::vector<size_t>* tokens) {
  using Read = FlushJob::Item::Read;
  // A batch starts full, or with what is left once every message of the
  // flush is known and read.
  const size_t read_ahead_want = std::min(want, kFlushReadAheadMessages);
  size_t ready = job->retry_tokens.size();
  size_t end = job->next_item;
  while (ready < read_ahead_want && end < job->items.size() &&
         (job->items[end].read == Read::kLoaded || job->items[end].read == Read::kFailed)) {
    ++ready;
    ++end;
  }
  const bool all_known = job->setup_done && end == job->items.size();
  if (ready == 0 || (ready < read_ahead_want && !all_known)) return false;
  auto add = [&](size_t token) {
    FlushJob::Item& item = job->items[token];
    smtp::OutboundMessage outbound;
    outbound.token = token;
    outbound.mail_from = item.message->mail_from;
    for (uint32_t index : item.recipient_indexes) {
      outbound.recipients.push_back(item.message->recipients[index]);
    }
    outbound.data = item.message->data;
    batch->push_back(std::move(outbound));
    tokens->push_back(token);
  };
  while (!job->retry_tokens.empty() && batch->size() < want) {
    add(job->retry_tokens.front());
    job->retry_tokens.pop_front();
  }
  while (job->next_item < end && batch->size() < want) {
    const size_t token = job->next_item++;
    if (job->items[token].read == Read::kFailed) continue;  // stays queued
    add(token);
  }
  ETRND_CHECK(batch->size() <= want);
  return true;
}

void QueueService::LaunchConnections(const std::shared_ptr<FlushJob>& job) {
  if (job->is_turn()) {
    LaunchTurnBatches(job);
    return;
  }
  const QueueOptions& options = core_.options();
  if (job->targets.empty()) return;  // the route is not known yet
  while (!job->host_failed && !stopped_ &&
         job->connections_open < options.connections_per_destination) {
    std::vector<smtp::OutboundMessage> batch;
    std::vector<size_t> tokens;
    if (!TakeBatch(job, options.messages_per_connection, &batch, &tokens)) break;
    if (batch.empty()) continue;  // only failed reads were taken
    smtp::ClientSession::Options client_options;
    client_options.helo_hostname = options.hostname;
    client_options.max_messages_per_connection = options.messages_per_connection;
    // STARTTLS whenever offered (SPEC 5); tls=require|verify: or defer.
    const bool opportunistic = job->tls_policy == config::TlsPolicy::kOpportunistic;
    client_options.tls = !opportunistic ? smtp::TlsMode::kRequire
                         : job->clear_text_target == job->target_index
                             ? smtp::TlsMode::kNever
                             : smtp::TlsMode::kOpportunistic;
    DeliveryTls tls{.context = core_.ClientTls(job->tls_policy == config::TlsPolicy::kVerify),
                    .peer_host = job->target_hosts[job->target_index]};
    auto tls_failed_at = std::make_shared<size_t>(std::string::npos);
    if (opportunistic) {
      tls.on_handshake_failed = [tls_failed_at, target = job->target_index] {
        *tls_failed_at = target;
      };
    }
    ++job->connections_open;
    connect_gate_->Deliver(DeliveryAttempt{
        .target = job->targets[job->target_index],
        .client_options = std::move(client_options),
        .messages = std::move(batch),
        .tls = std::move(tls),
        .timeout = options.delivery_timeout,
        .outcomes = [this, job](const smtp::RecipientOutcome& outcome) { OnOutcome(job, outcome); },
        .finished = [this, job, tokens = std::move(tokens),
                     tls_failed_at] { OnConnectionFinished(job, tokens, *tls_failed_at); },
        .retry_dead_target = job->retry_dead_targets});
  }
}

void QueueService::OnConnectionFinished(const std::shared_ptr<FlushJob>& job,
                                        const std::vector<size_t>& tokens, size_t tls_failed_at) {
  ETRND_CHECK(job->connections_open > 0);
  --job->connections_open;
  // Messages the connection itself failed (refused, lost, timed out) go to
  // the next address of the route, if there is one (next MX host).
  std::vector<size_t> failed;
  for (size_t token : tokens) {
    if (job->items[token].connection_failed) failed.push_back(token);
  }
  // A failed opportunistic handshake: the same address again, in clear (an
  // attacker could strip STARTTLS anyway; tls=require never gets here).
  const bool again_in_clear = !failed.empty() && tls_failed_at == job->target_index;
  if (again_in_clear) {
    if (job->clear_text_target != tls_failed_at) {
      ETRND_LOG_INFO("flush %s: TLS handshake with %s failed; trying again without TLS",
                     job->domain, job->targets[tls_failed_at].ToString());
    }
    job->clear_text_target = tls_failed_at;
    job->host_failed = false;
  }
  bool next_address =
      !again_in_clear && !failed.empty() && job->target_index + 1 < job->targets.size();
  if (next_address) {
    ++job->target_index;
    job->host_failed = false;
    ETRND_LOG_INFO("flush %s: trying next address %s", job->domain,
                   job->targets[job->target_index].ToString());
  }
  for (size_t token : failed) {
    FlushJob::Item& item = job->items[token];
    item.connection_failed = false;
    if (next_address || again_in_clear) {
      item.outcomes_seen = 0;
      job->retry_tokens.push_back(token);
    } else {
      job->deferred += item.recipient_indexes.size();
      item.message.reset();  // stays queued; free the body
    }
  }
  AdvanceFlush(job);
}

void QueueService::MaybeFinishFlush(const std::shared_ptr<FlushJob>& job) {
  if (job->finished || job->connections_open > 0 || job->settling > 0) return;
  if (job->reads_outstanding > 0) return;  // their callbacks still hold items
  const bool bouncing = job->bounce_reply.has_value();
  if (job->HasWork() && (!job->host_failed || bouncing) && !stopped_) return;
  job->finished = true;
  FinishFlush(job);
}

std::function<void()> QueueService::Settler(const std::shared_ptr<FlushJob>& job) {
  ++job->settling;
  return [this, job] {
    ETRND_CHECK(job->settling > 0);
    --job->settling;
    MaybeFinishFlush(job);
  };
}

void QueueService::OnOutcome(const std::shared_ptr<FlushJob>& job,
                             const smtp::RecipientOutcome& outcome) {
  ETRND_CHECK(outcome.token < job->items.size());
  FlushJob::Item& item = job->items[outcome.token];
  ETRND_CHECK(item.read == FlushJob::Item::Read::kLoaded && item.message != nullptr);
  ETRND_CHECK(outcome.recipient_index < item.recipient_indexes.size());
  ETRND_CHECK(item.outcomes_seen < item.recipient_indexes.size());
  uint32_t recipient_index = item.recipient_indexes[outcome.recipient_index];
  ++item.outcomes_seen;
  metrics::CoreMetrics& metrics = core_.metrics();
  switch (outcome.kind) {
    case smtp::RecipientOutcome::kDelivered: {
      ++job->delivered;
      ++metrics.deliveries_delivered;
      metrics.delivery_seconds.Observe(absl::Now() - job->started);
      // Info, as in Postfix: the line an operator looks for first.
      LogDelivery(item.message->queue_id, item.message->recipients[recipient_index], job->domain,
                  job->remote_mta, "sent", outcome.reply);
      FinishRecipient(job->domain, item.location(), recipient_index,
                      spool::RecipientOutcome::kDelivered, Settler(job));
      break;
    }
    case smtp::RecipientOutcome::kDeferred:
      ++metrics.deliveries_deferred;
      job->last_error = outcome.reply;
      if (outcome.connection_level) {
        job->host_failed = true;
        item.connection_failed = true;  // counted when the connection ends
      } else {
        ++job->deferred;
      }
      LogDelivery(item.message->queue_id, item.message->recipients[recipient_index], job->domain,
                  job->remote_mta, "deferred", outcome.reply);
      break;
    case smtp::RecipientOutcome::kBounced:
      ++job->bounced;
      ++metrics.deliveries_bounced;
      LogDelivery(item.message->queue_id, item.message->recipients[recipient_index], job->domain,
                  job->remote_mta, "bounced", outcome.reply);
      if (item.failures == nullptr)
        item.failures = std::make_unique<decltype(item.failures)::element_type>();
      item.failures->emplace_back(recipient_index, outcome.reply);
      break;
  }
  if (item.outcomes_seen < item.recipient_indexes.size()) return;
  if (item.failures != nullptr) {
    QueueBounce(*item.message, item.location(), job->domain, std::move(*item.failures),
                job->remote_mta,
                /*expired=*/false, Settler(job));
    item.failures.reset();
  }
  // Every recipient has its answer: the body is no longer needed here
  // (unless the connection failed and the next address gets it).
  if (!item.connection_failed) item.message.reset();
}

void QueueService::FinishFlush(const std::shared_ptr<FlushJob>& job) {
  ETRND_CHECK(job->finished && job->reads_outstanding == 0 && job->connections_open == 0);
  // The job itself may live on a while, in its last connection.
  ReleaseInSlices(core_.reactor(), std::move(job->items), kFlushReleaseSlice);
  job->items.clear();  // nothing reads them after this: the job is over
  if (job->is_turn()) FinishTurnJob(job);
  auto it = domains_.find(job->domain);
  if (it == domains_.end() || !it->second->flushing) return;
  DomainState& state = *it->second;
  state.flushing = false;
  ETRND_CHECK(flushes_running_ > 0);
  --flushes_running_;
  ETRND_LOG_INFO_EVENT("flush_done",
                       {{"domain", job->domain},
                        {"kind", job->is_turn() ? "atrn" : "flush"},
                        {"delivered", job->delivered},
                        {"deferred", job->deferred},
                        {"bounced", job->bounced},
                        {"reply", job->last_error}},
                       "flush %s done in %s: %d delivered, %d deferred, %d bounced%s", job->domain,
                       absl::FormatDuration(absl::Now() - job->started), job->delivered,
                       job->deferred, job->bounced,
                       job->last_error.empty() ? "" : " (" + job->last_error + ")");
  if (stopped_) return;
  const config::DomainEntry* entry = core_.table().Match(job->domain);
  // Bounces to an unserved domain are retried like a customer's mail.
  bool hold = entry != nullptr ? entry->hold : state.routed_when_unserved.empty();
  bool failed = job->deferred > 0 || job->host_failed;
  state.last_error = failed ? job->last_error : "";
  delivery::RetrySchedule schedule(delivery::RetrySchedule::Options{
      .initial = core_.options().retry_initial, .max = core_.options().retry_max});
  if (failed) {
    schedule.RecordDeferral(&state.retry, absl::Now(), hold);
    if (!hold) ScheduleAttempt(job->domain, state.retry.next_attempt - absl::Now());
  } else {
    state.retry = delivery::RetryState{};
    if (state.flush_again && !hold) ScheduleAttempt(job->domain, kArrivalBatchDelay);
  }
}

}  // namespace etrnd::qmgr

#include "etrnd/server/queue_service.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/config/domain_name.h"
#include "etrnd/control/control_request.h"
#include "etrnd/delivery/dsn.h"
#include "etrnd/delivery/mx_list.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/server/core.h"
#include "etrnd/server/delivery_connection.h"
#include "etrnd/spool/spool_files.h"
#include "queue_domain_state.h"

namespace etrnd::server {
namespace {

// Expired mail is looked for once a minute (--max_queue_lifetime is days),
// or ten times per lifetime when an operator sets a short one.
constexpr absl::Duration kExpirySweepIntervalMax = absl::Minutes(1);
constexpr absl::Duration kExpirySweepIntervalMin = absl::Milliseconds(200);

absl::Duration ExpirySweepInterval(absl::Duration lifetime) {
  return std::clamp(lifetime / 10, kExpirySweepIntervalMin, kExpirySweepIntervalMax);
}
// New mail for a healthy domain waits this long so one attempt carries a
// burst of arrivals instead of one connection per message.
constexpr absl::Duration kArrivalBatchDelay = absl::Milliseconds(20);
// Flushes running at once on one core; beyond it ETRN answers 458.
constexpr size_t kFlushesRunningMax = 4096;

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return config::AsciiLower(address.substr(at + 1));
}

uint64_t QueueIdKey(std::string_view queue_id) {
  return control::ParseQueueId(queue_id).value_or(0);
}

spool::SegmentKey SegmentOf(const spool::RecordLocation& location) {
  return spool::SegmentKey{location.core, location.segment_id};
}

}  // namespace

// One run over a domain's queued messages towards its next hop.
struct QueueService::FlushJob {
  struct Item {
    spool::RecordLocation location;
    std::vector<uint32_t> recipient_indexes;  // this domain's recipients
    spool::SpoolMessage message;              // read from the spool when sent
    size_t outcomes_seen = 0;
    std::vector<std::pair<uint32_t, std::string>> failures;  // bounced: index, reply
    bool connection_failed = false;  // deferred by the connection, not the message
  };
  std::string domain;
  std::vector<SocketAddress> targets;
  std::string remote_mta;
  std::vector<Item> items;
  size_t next_item = 0;
  std::deque<size_t> retry_tokens;  // items to try again at the next address
  size_t target_index = 0;
  size_t connections_open = 0;
  // Completions (and bounces) not yet durable: the flush is not over until
  // they are, or a new flush could send the same message again.
  size_t settling = 0;
  bool finished = false;
  size_t delivered = 0, deferred = 0, bounced = 0;
  bool host_failed = false;
  std::string last_error;
  absl::Time started;

  bool HasWork() const;
};

QueueService::QueueService(Core& core)
    : core_(core), postmaster_domain_(DomainOf(core.context().options.postmaster)) {
  core_.reactor().RunAfter(ExpirySweepInterval(core_.context().options.max_queue_lifetime),
                           [this] { SweepExpired(); });
}

QueueService::~QueueService() = default;

size_t QueueService::queued_domains() const { return index_.domains_count(); }

void QueueService::LoadRecovered(const spool::RecoveryResult& recovered) {
  const size_t shards = core_.context().core_count();
  const uint32_t self = static_cast<uint32_t>(core_.index());
  for (const spool::RecoveredMessage& message : recovered.messages) {
    if (message.location.core == self) {
      segments_.AddLiveRecipients(SegmentOf(message.location), message.live_recipients);
    }
    absl::flat_hash_map<std::string, std::vector<uint32_t>> by_domain;
    for (uint32_t i = 0; i < message.recipients.size(); ++i) {
      if (message.finished[i]) continue;
      std::string domain = DomainOf(message.recipients[i]);
      if (queue::ShardForDomain(domain, shards) == static_cast<size_t>(self)) {
        by_domain[domain].push_back(i);
      }
    }
    for (auto& [domain, indexes] : by_domain) {
      AddRecipients(domain, message.location, std::move(indexes), message.arrival_unix_micros,
                    RoutedWhenUnserved(message.mail_from, domain), QueueIdKey(message.queue_id));
    }
  }
  for (const spool::SegmentKey& segment : recovered.segments) {
    if (segment.core != self) continue;
    bool pinned = std::find(recovered.pinned_segments.begin(), recovered.pinned_segments.end(),
                            segment) != recovered.pinned_segments.end();
    if (!pinned) segments_.Seal(segment);
  }
  CollectGarbage();
  ETRND_LOG_INFO("queue shard %d: %d domains with mail after recovery", core_.index(),
                 index_.domains_count());
}

void QueueService::OnMessageDurable(const spool::RecordLocation& location,
                                    const spool::SpoolMessage& envelope) {
  segments_.AddLiveRecipients(SegmentOf(location), envelope.recipients.size());
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_domain;
  for (uint32_t i = 0; i < envelope.recipients.size(); ++i) {
    by_domain[DomainOf(envelope.recipients[i])].push_back(i);
  }
  const size_t shards = core_.context().core_count();
  int64_t arrival = envelope.arrival_unix_micros;
  const uint64_t queue_id = QueueIdKey(envelope.queue_id);
  for (auto& [domain, indexes] : by_domain) {
    Core& owner = core_.context().core(queue::ShardForDomain(domain, shards));
    const bool routed = RoutedWhenUnserved(envelope.mail_from, domain);
    if (&owner == &core_) {
      AddRecipients(domain, location, std::move(indexes), arrival, routed, queue_id);
      continue;
    }
    core_.SendTo(owner, [&owner, domain = domain, location, indexes = std::move(indexes), arrival,
                         routed, queue_id]() mutable {
      owner.queue().AddRecipients(domain, location, std::move(indexes), arrival, routed, queue_id);
    });
  }
}

// Mail that may leave by MX for a domain outside the table: bounces (null
// sender) and mail for the --postmaster address's domain (RCPT accepts an
// unserved domain for nothing else). A customer's mail never does.
bool QueueService::RoutedWhenUnserved(const std::string& mail_from,
                                      const std::string& domain) const {
  return mail_from.empty() || domain == postmaster_domain_;
}

void QueueService::SealSegment(uint64_t segment_id) {
  segments_.Seal(spool::SegmentKey{static_cast<uint32_t>(core_.index()), segment_id});
  CollectGarbage();
}

void QueueService::AddRecipients(const std::string& domain, const spool::RecordLocation& location,
                                 std::vector<uint32_t> recipient_indexes,
                                 int64_t arrival_unix_micros, bool routed_when_unserved,
                                 uint64_t queue_id) {
  queue::MessageKey key = queue::MessageKey::FromLocation(location);
  index_.AddRecipients(domain, key, recipient_indexes);
  DomainState* state = &StateOf(domain);
  by_arrival_.push_back(ExpiryEntry{arrival_unix_micros, state, location, queue_id});
  const config::DomainEntry* entry = core_.table().Match(domain);
  // RCPT accepts mail for unserved domains only as bounces and postmaster
  // mail (at a restart, the table then decides).
  if (entry == nullptr && routed_when_unserved) state->routed_when_unserved.insert(key);
  bool hold = entry != nullptr ? entry->hold : !state->routed_when_unserved.contains(key);
  if (hold || stopped_ || held_.contains(domain)) return;
  if (state->flushing) {
    state->flush_again = true;
  } else if (state->timer == 0 && delivery::RetrySchedule::Due(state->retry, absl::Now())) {
    ScheduleAttempt(domain, kArrivalBatchDelay);
  }
}

QueueService::DomainState& QueueService::StateOf(const std::string& domain) {
  auto& state = domains_[domain];
  if (state == nullptr) {
    state = std::make_unique<DomainState>();
    state->name = domain;
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

void QueueService::StartFlush(const std::string& domain) {
  DomainState& state = StateOf(domain);
  if (state.flushing || stopped_ || held_.contains(domain)) return;
  if (index_.CountDomain(domain) == 0) return;
  // A domain that left the table keeps its customers' mail queued (no route,
  // no attempt, no bounce); only bounces queued while it was unserved go out.
  const bool served = core_.table().Match(domain) != nullptr;
  auto job = std::make_shared<FlushJob>();
  job->domain = domain;
  job->started = absl::Now();
  size_t held = 0;
  absl::flat_hash_set<queue::MessageKey> still_routed;  // drops finished keys
  index_.ForEachMessage(
      domain, [&](const queue::MessageKey& key, const queue::RecipientIndexSet& recipients) {
        if (!served) {
          if (!state.routed_when_unserved.contains(key)) {
            ++held;
            return;
          }
          still_routed.insert(key);
        }
        FlushJob::Item item;
        item.location = key.ToLocation();
        item.recipient_indexes = recipients.ToVector();
        job->items.push_back(std::move(item));
      });
  if (!served) state.routed_when_unserved = std::move(still_routed);
  if (held > 0) {
    ETRND_LOG_INFO("flush %s: not in the domains table: %d messages stay queued", domain, held);
  }
  if (job->items.empty()) return;
  state.flushing = true;
  state.flush_again = false;
  ++flushes_running_;
  ETRND_LOG_INFO("flush %s: %d messages", domain, job->items.size());
  RunFlush(job);
}

void QueueService::RunFlush(const std::shared_ptr<FlushJob>& job) {
  // A domain outside the table (here only bounces to senders elsewhere, see
  // StartFlush) is routed like any MTA would: by MX.
  const config::DomainEntry* entry = core_.table().Match(job->domain);
  config::NextHop next_hop;
  if (entry != nullptr) {
    next_hop = entry->next_hop;
  } else {
    next_hop.kind = config::NextHop::Kind::kMx;
  }
  job->remote_mta = next_hop.kind == config::NextHop::Kind::kMx ? "mx" : next_hop.ToString();
  core_.ResolveNextHop(
      job->domain, next_hop, [this, job](absl::StatusOr<std::vector<SocketAddress>> targets) {
        if (!targets.ok()) {
          job->last_error = std::string(targets.status().message());
          job->host_failed = true;
          if (absl::IsNotFound(targets.status()) || absl::IsFailedPrecondition(targets.status())) {
            BounceWholeFlush(job,
                             absl::IsFailedPrecondition(targets.status())
                                 ? std::string(delivery::kNullMxReply)
                                 : "550 5.1.2 " + job->domain + ": Host or domain name not found");
          }
          MaybeFinishFlush(job);
          return;
        }
        job->targets = std::move(*targets);
        LaunchConnections(job);
      });
}

bool QueueService::FlushJob::HasWork() const {
  return !retry_tokens.empty() || next_item < items.size();
}

void QueueService::LaunchConnections(const std::shared_ptr<FlushJob>& job) {
  const ServerOptions& options = core_.context().options;
  while (!job->host_failed && !stopped_ && job->HasWork() &&
         job->connections_open < options.connections_per_destination) {
    std::vector<delivery::OutboundMessage> batch;
    std::vector<size_t> tokens;
    while (job->HasWork() && batch.size() < options.messages_per_connection) {
      size_t token;
      if (!job->retry_tokens.empty()) {
        token = job->retry_tokens.front();
        job->retry_tokens.pop_front();
      } else {
        token = job->next_item++;
      }
      FlushJob::Item& item = job->items[token];
      if (item.message.data.empty()) {
        absl::StatusOr<spool::SpoolMessage> message =
            spool::ReadMessage(options.spool_dir, item.location);
        if (!message.ok()) {
          ETRND_LOG_ERROR("flush %s: cannot read message at %d/%d/%d: %s", job->domain,
                          item.location.core, item.location.segment_id, item.location.offset,
                          std::string(message.status().message()));
          continue;
        }
        item.message = std::move(*message);
      }
      delivery::OutboundMessage outbound;
      outbound.token = token;
      outbound.mail_from = item.message.mail_from;
      for (uint32_t index : item.recipient_indexes) {
        outbound.recipients.push_back(item.message.recipients[index]);
      }
      outbound.data = item.message.data;
      batch.push_back(std::move(outbound));
      tokens.push_back(token);
    }
    if (batch.empty()) break;
    delivery::ClientSession::Options client_options;
    client_options.helo_hostname = options.hostname;
    client_options.max_messages_per_connection = options.messages_per_connection;
    ++job->connections_open;
    auto handler = std::make_unique<DeliveryConnection>(
        core_.reactor(), client_options, std::move(batch),
        [this, job](const delivery::RecipientOutcome& outcome) { OnOutcome(job, outcome); },
        [this, job, tokens = std::move(tokens)] { OnConnectionFinished(job, tokens); },
        options.delivery_timeout);
    core_.reactor().Connect(job->targets[job->target_index], std::move(handler),
                            options.delivery_timeout);
  }
  MaybeFinishFlush(job);
}

void QueueService::OnConnectionFinished(const std::shared_ptr<FlushJob>& job,
                                        const std::vector<size_t>& tokens) {
  --job->connections_open;
  // Messages the connection itself failed (refused, lost, timed out) go to
  // the next address of the route, if there is one (next MX host).
  std::vector<size_t> failed;
  for (size_t token : tokens) {
    if (job->items[token].connection_failed) failed.push_back(token);
  }
  bool next_address = !failed.empty() && job->target_index + 1 < job->targets.size();
  if (next_address) {
    ++job->target_index;
    job->host_failed = false;
    ETRND_LOG_INFO("flush %s: trying next address %s", job->domain,
                   job->targets[job->target_index].ToString());
  }
  for (size_t token : failed) {
    FlushJob::Item& item = job->items[token];
    item.connection_failed = false;
    if (next_address) {
      item.outcomes_seen = 0;
      job->retry_tokens.push_back(token);
    } else {
      job->deferred += item.recipient_indexes.size();
      item.message = spool::SpoolMessage{};  // stays queued; free the body
    }
  }
  LaunchConnections(job);
  MaybeFinishFlush(job);
}

void QueueService::MaybeFinishFlush(const std::shared_ptr<FlushJob>& job) {
  if (job->finished || job->connections_open > 0 || job->settling > 0) return;
  if (job->HasWork() && !job->host_failed && !stopped_) return;
  job->finished = true;
  FinishFlush(job);
}

std::function<void()> QueueService::Settler(const std::shared_ptr<FlushJob>& job) {
  ++job->settling;
  return [this, job] {
    --job->settling;
    MaybeFinishFlush(job);
  };
}

void QueueService::OnOutcome(const std::shared_ptr<FlushJob>& job,
                             const delivery::RecipientOutcome& outcome) {
  FlushJob::Item& item = job->items[outcome.token];
  uint32_t recipient_index = item.recipient_indexes[outcome.recipient_index];
  ++item.outcomes_seen;
  metrics::CoreMetrics& metrics = core_.metrics();
  switch (outcome.kind) {
    case delivery::RecipientOutcome::kDelivered: {
      ++job->delivered;
      ++metrics.deliveries_delivered;
      metrics.delivery_seconds.Observe(absl::Now() - job->started);
      ETRND_LOG_DEBUG("%s: to=<%s>, relay=%s, status=sent (%s)", item.message.queue_id,
                      item.message.recipients[recipient_index], job->remote_mta, outcome.reply);
      FinishRecipient(job->domain, item.location, recipient_index,
                      spool::RecipientOutcome::kDelivered, Settler(job));
      break;
    }
    case delivery::RecipientOutcome::kDeferred:
      ++metrics.deliveries_deferred;
      job->last_error = outcome.reply;
      if (outcome.connection_level) {
        job->host_failed = true;
        item.connection_failed = true;  // counted when the connection ends
      } else {
        ++job->deferred;
      }
      ETRND_LOG_INFO("%s: to=<%s>, relay=%s, status=deferred (%s)", item.message.queue_id,
                     item.message.recipients[recipient_index], job->remote_mta, outcome.reply);
      break;
    case delivery::RecipientOutcome::kBounced:
      ++job->bounced;
      ++metrics.deliveries_bounced;
      ETRND_LOG_INFO("%s: to=<%s>, relay=%s, status=bounced (%s)", item.message.queue_id,
                     item.message.recipients[recipient_index], job->remote_mta, outcome.reply);
      item.failures.emplace_back(recipient_index, outcome.reply);
      break;
  }
  if (item.outcomes_seen < item.recipient_indexes.size()) return;
  if (!item.failures.empty()) {
    QueueBounce(item.message, item.location, job->domain, std::move(item.failures), job->remote_mta,
                /*expired=*/false, Settler(job));
    item.failures.clear();
  }
  // Every recipient has its answer: the body is no longer needed here
  // (unless the connection failed and the next address gets it).
  if (!item.connection_failed) item.message = spool::SpoolMessage{};
}

void QueueService::BounceWholeFlush(const std::shared_ptr<FlushJob>& job,
                                    const std::string& reply) {
  for (FlushJob::Item& item : job->items) {
    absl::StatusOr<spool::SpoolMessage> message =
        spool::ReadMessage(core_.context().options.spool_dir, item.location);
    if (!message.ok()) continue;
    std::vector<std::pair<uint32_t, std::string>> failures;
    for (uint32_t index : item.recipient_indexes) failures.emplace_back(index, reply);
    job->bounced += failures.size();
    core_.metrics().deliveries_bounced += failures.size();
    QueueBounce(*message, item.location, job->domain, std::move(failures), "", false, Settler(job));
  }
}

void QueueService::FinishFlush(const std::shared_ptr<FlushJob>& job) {
  auto it = domains_.find(job->domain);
  if (it == domains_.end() || !it->second->flushing) return;
  DomainState& state = *it->second;
  state.flushing = false;
  --flushes_running_;
  ETRND_LOG_INFO("flush %s done in %s: %d delivered, %d deferred, %d bounced%s", job->domain,
                 absl::FormatDuration(absl::Now() - job->started), job->delivered, job->deferred,
                 job->bounced, job->last_error.empty() ? "" : " (" + job->last_error + ")");
  if (stopped_) return;
  const config::DomainEntry* entry = core_.table().Match(job->domain);
  // Bounces to an unserved domain are retried like a customer's mail.
  bool hold = entry != nullptr ? entry->hold : state.routed_when_unserved.empty();
  bool failed = job->deferred > 0 || job->host_failed;
  state.last_error = failed ? job->last_error : "";
  delivery::RetrySchedule schedule(delivery::RetrySchedule::Options{
      .initial = core_.context().options.retry_initial, .max = core_.context().options.retry_max});
  if (failed) {
    schedule.RecordDeferral(&state.retry, absl::Now(), hold);
    if (!hold) ScheduleAttempt(job->domain, state.retry.next_attempt - absl::Now());
  } else {
    state.retry = delivery::RetryState{};
    if (state.flush_again && !hold) ScheduleAttempt(job->domain, kArrivalBatchDelay);
  }
}

void QueueService::FinishRecipient(const std::string& domain, const spool::RecordLocation& location,
                                   uint32_t recipient_index, spool::RecipientOutcome outcome,
                                   std::function<void()> settled) {
  spool::SpoolCompletion completion;
  completion.core = location.core;
  completion.segment_id = location.segment_id;
  completion.offset = location.offset;
  completion.recipient_index = recipient_index;
  completion.outcome = outcome;
  core_.AppendCompletion(completion, [this, domain, location, recipient_index,
                                      settled = std::move(settled)](absl::Status status) {
    if (settled) settled();
    if (!status.ok()) {
      // Not recorded: the recipient stays queued and is delivered again
      // later (at least once, never lost).
      ETRND_LOG_ERROR("completion log write failed: %s", std::string(status.message()));
      return;
    }
    // Finished twice (an operator's delete racing a delivery): the segment
    // counts it once, or GC could remove a segment with live mail.
    if (!index_.FinishRecipient(domain, queue::MessageKey::FromLocation(location),
                                recipient_index)) {
      return;
    }
    Core& segment_core = core_.context().core(location.core);
    spool::SegmentKey segment = SegmentOf(location);
    if (&segment_core == &core_) {
      SegmentRecipientFinished(segment);
    } else {
      core_.SendTo(segment_core, [&segment_core, segment] {
        segment_core.queue().SegmentRecipientFinished(segment);
      });
    }
  });
}

void QueueService::QueueBounce(const spool::SpoolMessage& message,
                               const spool::RecordLocation& location, const std::string& domain,
                               std::vector<std::pair<uint32_t, std::string>> failures,
                               const std::string& remote_mta, bool expired,
                               std::function<void()> settled) {
  // Runs `settled` once every part below is durable (or has failed).
  auto parts = std::make_shared<size_t>(1);
  auto part_done = [parts, settled = std::move(settled)] {
    if (--*parts == 0 && settled) settled();
  };
  spool::RecipientOutcome final_outcome =
      expired ? spool::RecipientOutcome::kExpired : spool::RecipientOutcome::kBounced;
  if (message.mail_from.empty()) {
    // Null sender: nobody to tell (and a bounce is never bounced).
    for (auto& [index, reply] : failures) {
      ETRND_LOG_INFO("%s: to=<%s>, dropped: null sender, no bounce (%s)", message.queue_id,
                     message.recipients[index], reply);
      ++*parts;
      FinishRecipient(domain, location, index, spool::RecipientOutcome::kDropped, part_done);
    }
    part_done();
    return;
  }
  delivery::BounceRequest request;
  request.reporting_mta = core_.context().options.hostname;
  request.original_sender = message.mail_from;
  request.original_message = message.data;
  request.arrival_time = absl::FromUnixMicros(message.arrival_unix_micros);
  request.now = absl::Now();
  request.unique_id = core_.NewQueueId();
  for (auto& [index, reply] : failures) {
    if (expired) {
      request.recipients.push_back(delivery::ExpiredRecipient(message.recipients[index], reply));
    } else {
      int code = reply.size() >= 3 ? std::atoi(reply.substr(0, 3).c_str()) : 550;
      request.recipients.push_back(
          delivery::RefusedRecipient(message.recipients[index], code, reply, remote_mta));
    }
  }
  absl::StatusOr<std::string> bounce = delivery::BuildBounce(request);
  if (!bounce.ok()) {
    ETRND_LOG_ERROR("%s: cannot build bounce: %s", message.queue_id,
                    std::string(bounce.status().message()));
    part_done();
    return;
  }
  spool::SpoolMessage dsn;
  dsn.queue_id = request.unique_id;
  dsn.arrival_unix_micros = absl::ToUnixMicros(request.now);
  dsn.mail_from = "";
  dsn.recipients = {message.mail_from};
  dsn.data = std::move(*bounce);
  std::string original_id = message.queue_id;
  core_.StoreMessage(std::move(dsn), [this, domain, location, failures, final_outcome, original_id,
                                      parts, part_done](absl::StatusOr<std::string> queue_id) {
    if (!queue_id.ok()) {
      // The recipients stay queued; the next attempt bounces them again.
      ETRND_LOG_ERROR("%s: bounce not queued: %s", original_id,
                      std::string(queue_id.status().message()));
      part_done();
      return;
    }
    ETRND_LOG_INFO("%s: bounce queued as %s", original_id, *queue_id);
    ++core_.metrics().bounces_total;
    for (const auto& failure : failures) {
      ++*parts;
      FinishRecipient(domain, location, failure.first, final_outcome, part_done);
    }
    part_done();
  });
}

void QueueService::SweepExpired() {
  if (stopped_) return;
  const absl::Duration lifetime = core_.context().options.max_queue_lifetime;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - lifetime);
  std::vector<ExpiryEntry> due;
  while (!by_arrival_.empty() && by_arrival_.front().arrival_unix_micros <= cutoff) {
    due.push_back(by_arrival_.front());
    by_arrival_.pop_front();
    ++by_arrival_popped_;
  }
  // Pending recipients of the due messages, one pass per domain.
  absl::flat_hash_map<DomainState*, absl::flat_hash_set<queue::MessageKey>> due_by_domain;
  for (const ExpiryEntry& expired : due) {
    due_by_domain[expired.domain].insert(queue::MessageKey::FromLocation(expired.location));
  }
  for (auto& [state, keys] : due_by_domain) {
    const std::string& domain = state->name;
    std::vector<std::pair<queue::MessageKey, std::vector<uint32_t>>> pending;
    index_.ForEachMessage(
        domain, [&](const queue::MessageKey& key, const queue::RecipientIndexSet& recipients) {
          if (keys.contains(key)) pending.emplace_back(key, recipients.ToVector());
        });
    for (auto& [key, indexes] : pending) {
      spool::RecordLocation location = key.ToLocation();
      absl::StatusOr<spool::SpoolMessage> message =
          spool::ReadMessage(core_.context().options.spool_dir, location);
      if (!message.ok()) continue;
      std::vector<std::pair<uint32_t, std::string>> failures;
      for (uint32_t index : indexes) failures.emplace_back(index, "");
      ETRND_LOG_INFO("%s: expired after %s, bouncing %d recipients", message->queue_id,
                     absl::FormatDuration(lifetime), failures.size());
      QueueBounce(*message, location, domain, std::move(failures), "", /*expired=*/true, nullptr);
    }
  }
  core_.reactor().RunAfter(ExpirySweepInterval(core_.context().options.max_queue_lifetime),
                           [this] { SweepExpired(); });
}

void QueueService::SegmentRecipientFinished(spool::SegmentKey segment) {
  segments_.FinishRecipient(segment);
  CollectGarbage();
}

void QueueService::CollectGarbage() {
  const std::string& spool_dir = core_.context().options.spool_dir;
  for (const spool::SegmentKey& segment : segments_.TakeDeletable()) {
    std::string path = spool::SegmentPath(spool_dir, segment.core, segment.segment_id);
    if (unlink(path.c_str()) == 0) {
      ETRND_LOG_INFO("segment %s delivered completely: removed", path);
    }
  }
}

void QueueService::OnTableChanged() {
  // Domains keep their queued mail whatever the new table says; those no
  // longer served are reported so the operator sees them. A served non-hold
  // domain with mail and no attempt pending (back in the table, or no longer
  // `hold`) gets one now.
  size_t orphaned = 0;
  for (auto& [domain, state] : domains_) {
    if (index_.CountDomain(domain) == 0) continue;
    const config::DomainEntry* entry = core_.table().Match(domain);
    if (entry == nullptr) {
      ++orphaned;
    } else if (!entry->hold && !stopped_ && !state->flushing && state->timer == 0) {
      ScheduleAttempt(domain, kArrivalBatchDelay);
    }
  }
  if (orphaned > 0) {
    ETRND_LOG_WARNING(
        "queue shard %d: %d domains with queued mail are no longer in the domains "
        "table; their mail stays queued",
        core_.index(), orphaned);
  }
}

void QueueService::Stop() {
  stopped_ = true;
  for (auto& [domain, state] : domains_) {
    if (state->timer != 0) {
      core_.reactor().CancelTimer(state->timer);
      state->timer = 0;
    }
  }
}

}  // namespace etrnd::server

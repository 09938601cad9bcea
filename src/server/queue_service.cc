#include "etrnd/server/queue_service.h"

#include <algorithm>
#include <optional>
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
// Messages a flush set-up takes from the index per loop turn: a domain with
// a million queued messages must not hold the reactor for one turn.
constexpr size_t kFlushSetupSlice = 1024;
// Reads a flush job keeps issued ahead of the messages handed to
// connections, so a connection's next batch is in memory when it is due.
// Also the most a connection waits for before it starts.
constexpr size_t kFlushReadAheadMessages = 256;
// Due messages the expiry sweep takes per slice (the next slice starts once
// this one's reads are done).
constexpr size_t kExpirySweepSlice = 1024;
static_assert(kFlushesRunningMax * kFlushReadAheadMessages + kExpirySweepSlice <=
                  spool::kQueuedReadsMax,
              "flush read-ahead and the expiry sweep must fit the reader's queue");

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

// The reply's code ("250 2.0.0 Ok" -> 250), 0 when it has none (a
// connection failure described in words).
int ReplyCode(std::string_view reply) {
  if (reply.size() < 3) return 0;
  int code = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return 0;
    code = code * 10 + (reply[i] - '0');
  }
  return code;
}

// One line per recipient outcome, Postfix style:
// "<ID>: to=<rcpt>, relay=<next hop>, status=sent (250 ...)".
void LogDelivery(const std::string& queue_id, const std::string& recipient,
                 const std::string& domain, const std::string& relay, std::string_view status,
                 const std::string& reply) {
  const std::string_view event = status == "sent" ? std::string_view("delivered") : status;
  ETRND_LOG_INFO_EVENT(event,
                       {{"id", queue_id},
                        {"to", recipient},
                        {"domain", domain},
                        {"relay", relay},
                        {"status", status},
                        {"code", ReplyCode(reply)},
                        {"reply", reply}},
                       "%s: to=<%s>, relay=%s, status=%s (%s)", queue_id, recipient, relay,
                       std::string(status), reply);
}

}  // namespace

// One run over a domain's queued messages towards its next hop.
struct QueueService::FlushJob {
  struct Item {
    spool::RecordLocation location;
    std::vector<uint32_t> recipient_indexes;  // this domain's recipients
    spool::SpoolMessage message;              // read from the spool ahead of its batch
    enum class Read : uint8_t { kNotRead, kReading, kLoaded, kFailed } read = Read::kNotRead;
    size_t outcomes_seen = 0;
    std::vector<std::pair<uint32_t, std::string>> failures;  // bounced: index, reply
    bool connection_failed = false;  // deferred by the connection, not the message
  };
  std::string domain;
  std::vector<SocketAddress> targets;
  std::string remote_mta;
  std::vector<Item> items;  // grows slice by slice while setting up
  bool served = true;       // the domain has a table entry
  bool setup_done = false;
  std::optional<queue::MessageKey> setup_cursor;  // last key taken from the index
  size_t held = 0;       // unserved domain: customers' mail that stays queued
  size_t next_item = 0;  // next item to hand to a connection (or bounce)
  size_t next_read = 0;  // next item to read; reads run ahead of next_item
  size_t reads_outstanding = 0;
  std::optional<std::string> bounce_reply;  // the route cannot exist: bounce all
  std::deque<size_t> retry_tokens;          // items to try again at the next address
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
    : core_(core),
      reader_(core.reactor(), core.context().options.spool_dir),
      postmaster_domain_(DomainOf(core.context().options.postmaster)) {
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
  ++flushes_running_;
  ETRND_LOG_INFO_EVENT("flush", {{"domain", domain}, {"messages", queued}}, "flush %s: %d messages",
                       domain, queued);
  RunFlush(job);
  SetUpFlushSlice(job);
}

void QueueService::SetUpFlushSlice(const std::shared_ptr<FlushJob>& job) {
  ETRND_CHECK(!job->setup_done);
  if (job->finished || stopped_) {
    job->setup_done = true;
    MaybeFinishFlush(job);
    return;
  }
  DomainState& state = StateOf(job->domain);
  job->setup_cursor = index_.ForEachMessageAfter(
      job->domain, job->setup_cursor, kFlushSetupSlice,
      [&](const queue::MessageKey& key, const queue::RecipientIndexSet& recipients) {
        if (!job->served && !state.routed_when_unserved.contains(key)) {
          ++job->held;
          return;
        }
        FlushJob::Item item;
        item.location = key.ToLocation();
        item.recipient_indexes = recipients.ToVector();
        job->items.push_back(std::move(item));
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
          AdvanceFlush(job);
          return;
        }
        if (targets->empty()) {
          job->last_error = "no address for the next hop";
          job->host_failed = true;
        }
        job->targets = std::move(*targets);
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
    reader_.Read(item.location, [this, job, token](absl::StatusOr<spool::SpoolMessage> message) {
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
    item.message = std::move(*message);
    item.read = FlushJob::Item::Read::kLoaded;
  } else {
    // Stays queued; recovery at the next start decides what the record holds.
    if (!absl::IsCancelled(message.status())) {
      ETRND_LOG_ERROR("flush %s: cannot read message at %d/%d/%d: %s", job->domain,
                      item.location.core, item.location.segment_id, item.location.offset,
                      std::string(message.status().message()));
    }
    item.read = FlushJob::Item::Read::kFailed;
  }
  AdvanceFlush(job);
}

void QueueService::LaunchConnections(const std::shared_ptr<FlushJob>& job) {
  const ServerOptions& options = core_.context().options;
  if (job->targets.empty()) return;  // the route is not known yet
  using Read = FlushJob::Item::Read;
  // A connection starts with a full batch, or with what is left once every
  // message of the flush is known and read.
  const size_t want = std::min(options.messages_per_connection, kFlushReadAheadMessages);
  while (!job->host_failed && !stopped_ &&
         job->connections_open < options.connections_per_destination) {
    size_t ready = job->retry_tokens.size();
    size_t end = job->next_item;
    while (ready < want && end < job->items.size() &&
           (job->items[end].read == Read::kLoaded || job->items[end].read == Read::kFailed)) {
      ++ready;
      ++end;
    }
    const bool all_known = job->setup_done && end == job->items.size();
    if (ready == 0 || (ready < want && !all_known)) break;
    std::vector<delivery::OutboundMessage> batch;
    std::vector<size_t> tokens;
    auto add = [&](size_t token) {
      FlushJob::Item& item = job->items[token];
      delivery::OutboundMessage outbound;
      outbound.token = token;
      outbound.mail_from = item.message.mail_from;
      for (uint32_t index : item.recipient_indexes) {
        outbound.recipients.push_back(item.message.recipients[index]);
      }
      outbound.data = item.message.data;
      batch.push_back(std::move(outbound));
      tokens.push_back(token);
    };
    while (!job->retry_tokens.empty() && batch.size() < options.messages_per_connection) {
      add(job->retry_tokens.front());
      job->retry_tokens.pop_front();
    }
    while (job->next_item < end && batch.size() < options.messages_per_connection) {
      const size_t token = job->next_item++;
      if (job->items[token].read == Read::kFailed) continue;  // stays queued
      add(token);
    }
    if (batch.empty()) continue;  // only failed reads were taken
    ETRND_CHECK(batch.size() <= options.messages_per_connection);
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
}

void QueueService::OnConnectionFinished(const std::shared_ptr<FlushJob>& job,
                                        const std::vector<size_t>& tokens) {
  ETRND_CHECK(job->connections_open > 0);
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
                             const delivery::RecipientOutcome& outcome) {
  ETRND_CHECK(outcome.token < job->items.size());
  FlushJob::Item& item = job->items[outcome.token];
  ETRND_CHECK(item.read == FlushJob::Item::Read::kLoaded);
  ETRND_CHECK(outcome.recipient_index < item.recipient_indexes.size());
  ETRND_CHECK(item.outcomes_seen < item.recipient_indexes.size());
  uint32_t recipient_index = item.recipient_indexes[outcome.recipient_index];
  ++item.outcomes_seen;
  metrics::CoreMetrics& metrics = core_.metrics();
  switch (outcome.kind) {
    case delivery::RecipientOutcome::kDelivered: {
      ++job->delivered;
      ++metrics.deliveries_delivered;
      metrics.delivery_seconds.Observe(absl::Now() - job->started);
      // Info, as in Postfix: the line an operator looks for first.
      LogDelivery(item.message.queue_id, item.message.recipients[recipient_index], job->domain,
                  job->remote_mta, "sent", outcome.reply);
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
      LogDelivery(item.message.queue_id, item.message.recipients[recipient_index], job->domain,
                  job->remote_mta, "deferred", outcome.reply);
      break;
    case delivery::RecipientOutcome::kBounced:
      ++job->bounced;
      ++metrics.deliveries_bounced;
      LogDelivery(item.message.queue_id, item.message.recipients[recipient_index], job->domain,
                  job->remote_mta, "bounced", outcome.reply);
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
  // The messages are bounced as their reads come back (AdvanceFlush).
  job->bounce_reply = reply;
}

void QueueService::BounceLoaded(const std::shared_ptr<FlushJob>& job) {
  using Read = FlushJob::Item::Read;
  while (job->next_item < job->items.size() && (job->items[job->next_item].read == Read::kLoaded ||
                                                job->items[job->next_item].read == Read::kFailed)) {
    FlushJob::Item& item = job->items[job->next_item++];
    if (item.read == Read::kFailed) continue;
    std::vector<std::pair<uint32_t, std::string>> failures;
    for (uint32_t index : item.recipient_indexes) failures.emplace_back(index, *job->bounce_reply);
    job->bounced += failures.size();
    core_.metrics().deliveries_bounced += failures.size();
    QueueBounce(item.message, item.location, job->domain, std::move(failures), "", false,
                Settler(job));
    item.message = spool::SpoolMessage{};
  }
}

void QueueService::FinishFlush(const std::shared_ptr<FlushJob>& job) {
  auto it = domains_.find(job->domain);
  if (it == domains_.end() || !it->second->flushing) return;
  DomainState& state = *it->second;
  state.flushing = false;
  ETRND_CHECK(flushes_running_ > 0);
  --flushes_running_;
  ETRND_LOG_INFO_EVENT("flush_done",
                       {{"domain", job->domain},
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
    const queue::MessageKey key = queue::MessageKey::FromLocation(location);
    if (!index_.FinishRecipient(domain, key, recipient_index)) return;
    if (index_.FindMessage(domain, key) == nullptr) {
      // Gone from the domain: an unserved domain's flush no longer routes it.
      auto state = domains_.find(domain);
      if (state != domains_.end()) state->second->routed_when_unserved.erase(key);
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
      ETRND_LOG_INFO_EVENT("dropped",
                           {{"id", message.queue_id},
                            {"to", message.recipients[index]},
                            {"domain", domain},
                            {"reply", reply}},
                           "%s: to=<%s>, dropped: null sender, no bounce (%s)", message.queue_id,
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
  core_.StoreMessage(
      std::move(dsn), Core::MessageOrigin{},
      [this, domain, location, failures, final_outcome, original_id, sender = message.mail_from,
       parts, part_done](absl::StatusOr<std::string> queue_id) {
        if (!queue_id.ok()) {
          // The recipients stay queued; the next attempt bounces them again.
          ETRND_LOG_ERROR("%s: bounce not queued: %s", original_id,
                          std::string(queue_id.status().message()));
          part_done();
          return;
        }
        ETRND_LOG_INFO_EVENT("bounce",
                             {{"id", original_id},
                              {"bounce_id", *queue_id},
                              {"to", sender},
                              {"nrcpt", failures.size()}},
                             "%s: bounce queued as %s, to=<%s>, nrcpt=%d", original_id, *queue_id,
                             sender, failures.size());
        ++core_.metrics().bounces_total;
        for (const auto& failure : failures) {
          ++*parts;
          FinishRecipient(domain, location, failure.first, final_outcome, part_done);
        }
        part_done();
      });
}

void QueueService::SweepExpired() { SweepExpiredSlice(); }

void QueueService::SweepExpiredSlice() {
  if (stopped_) return;
  ETRND_CHECK(expiry_reads_outstanding_ == 0);
  const absl::Duration lifetime = core_.context().options.max_queue_lifetime;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - lifetime);
  size_t taken = 0;
  while (taken < kExpirySweepSlice && !by_arrival_.empty() &&
         by_arrival_.front().arrival_unix_micros <= cutoff) {
    const ExpiryEntry expired = by_arrival_.front();
    by_arrival_.pop_front();
    ++by_arrival_popped_;
    ++taken;
    const queue::MessageKey key = queue::MessageKey::FromLocation(expired.location);
    if (index_.FindMessage(expired.domain->name, key) == nullptr) continue;  // finished
    ++expiry_reads_outstanding_;
    reader_.Read(expired.location, [this, state = expired.domain, location = expired.location](
                                       absl::StatusOr<spool::SpoolMessage> message) {
      ETRND_CHECK(expiry_reads_outstanding_ > 0);
      --expiry_reads_outstanding_;
      BounceExpired(state, location, std::move(message));
      if (expiry_reads_outstanding_ == 0) core_.reactor().Post([this] { SweepExpiredSlice(); });
    });
  }
  ETRND_CHECK(expiry_reads_outstanding_ <= kExpirySweepSlice);
  if (expiry_reads_outstanding_ > 0) return;  // the last read continues the sweep
  if (!by_arrival_.empty() && by_arrival_.front().arrival_unix_micros <= cutoff) {
    core_.reactor().Post([this] { SweepExpiredSlice(); });
    return;
  }
  core_.reactor().RunAfter(ExpirySweepInterval(lifetime), [this] { SweepExpired(); });
}

void QueueService::BounceExpired(DomainState* state, const spool::RecordLocation& location,
                                 absl::StatusOr<spool::SpoolMessage> message) {
  if (!message.ok()) {
    if (!absl::IsCancelled(message.status())) {
      ETRND_LOG_ERROR("expiry %s: cannot read message at %d/%d/%d: %s", state->name, location.core,
                      location.segment_id, location.offset,
                      std::string(message.status().message()));
    }
    return;
  }
  // The recipients still pending now: a flush may have finished some while
  // the record was read.
  const queue::RecipientIndexSet* pending =
      index_.FindMessage(state->name, queue::MessageKey::FromLocation(location));
  if (pending == nullptr) return;
  std::vector<std::pair<uint32_t, std::string>> failures;
  for (uint32_t index : pending->ToVector()) failures.emplace_back(index, "");
  ETRND_LOG_INFO_EVENT("expired",
                       {{"id", message->queue_id},
                        {"from", message->mail_from},
                        {"domain", state->name},
                        {"nrcpt", failures.size()}},
                       "%s: expired after %s, bouncing %d recipients", message->queue_id,
                       absl::FormatDuration(core_.context().options.max_queue_lifetime),
                       failures.size());
  QueueBounce(*message, location, state->name, std::move(failures), "", /*expired=*/true, nullptr);
}

void QueueService::SegmentRecipientFinished(spool::SegmentKey segment) {
  segments_.FinishRecipient(segment);
  CollectGarbage();
}

void QueueService::CollectGarbage() {
  const std::string& spool_dir = core_.context().options.spool_dir;
  for (const spool::SegmentKey& segment : segments_.TakeDeletable()) {
    // Out of every core's read cache (this one's first), so no cached fd
    // keeps the deleted file's space.
    reader_.EvictSegment(segment);
    for (size_t i = 0; i < core_.context().core_count(); ++i) {
      Core& other = core_.context().core(i);
      if (&other == &core_) continue;
      core_.SendTo(other, [&other, segment] { other.queue().EvictSegment(segment); });
    }
    std::string path = spool::SegmentPath(spool_dir, segment.core, segment.segment_id);
    core_.reactor().Unlink(path, [path](int result) {
      if (result == 0) ETRND_LOG_INFO("segment %s delivered completely: removed", path);
    });
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

}  // namespace etrnd::server

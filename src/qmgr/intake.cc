// How mail enters a core's queue: recovered at start-up, or stored durably
// by a session (each recipient domain goes to its owner core's index).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/qmgr/queue_service.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

void QueueService::LoadRecovered(const spool::RecoveryResult& recovered) {
  const size_t shards = core_.core_count();
  const uint32_t self = static_cast<uint32_t>(core_.index());
  for (const spool::RecoveredMessage& message : recovered.messages) {
    if (message.location.core == self) {
      segments_.AddMessage(message.location, message.live_recipients);
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
  for (size_t i = 0; i < recovered.segments.size(); ++i) {
    const spool::SegmentKey& segment = recovered.segments[i];
    if (segment.core != self) continue;
    if (i < recovered.segment_file_bytes.size()) {
      segments_.NoteFileBytes(segment, recovered.segment_file_bytes[i]);
    }
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
  segments_.AddMessage(location, static_cast<uint32_t>(envelope.recipients.size()));
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_domain;
  for (uint32_t i = 0; i < envelope.recipients.size(); ++i) {
    by_domain[DomainOf(envelope.recipients[i])].push_back(i);
  }
  const size_t shards = core_.core_count();
  int64_t arrival = envelope.arrival_unix_micros;
  const uint64_t queue_id = QueueIdKey(envelope.queue_id);
  for (auto& [domain, indexes] : by_domain) {
    const int owner = static_cast<int>(queue::ShardForDomain(domain, shards));
    const bool routed = RoutedWhenUnserved(envelope.mail_from, domain);
    if (owner == core_.index()) {
      AddRecipients(domain, location, std::move(indexes), arrival, routed, queue_id);
      continue;
    }
    core_.SendToQueue(owner, [domain = domain, location, indexes = std::move(indexes), arrival,
                              routed, queue_id](QueueService& queue) mutable {
      queue.AddRecipients(domain, location, std::move(indexes), arrival, routed, queue_id);
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
  segments_.Seal(spool::SegmentKey{static_cast<uint32_t>(core_.index()), segment_id}, absl::Now());
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
  if (hold || stopped_ || index_.IsHeld(domain)) return;
  if (state->flushing) {
    state->flush_again = true;
  } else if (state->timer == 0 && delivery::RetrySchedule::Due(state->retry, absl::Now())) {
    ScheduleAttempt(domain, kArrivalBatchDelay);
  }
}

}  // namespace etrnd::qmgr

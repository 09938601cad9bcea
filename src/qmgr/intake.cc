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
#include "etrnd/qmgr/recovery_handoff.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

void QueueService::LoadRecovered(const spool::RecoveryResult& recovered) {
  // AddRecipients' work, split by recovery_handoff.h's two passes: the
  // index and the schedule per domain, the expiry queue in arrival order.
  class Loader : public RecoveryHandOffVisitor {
   public:
    Loader(QueueService& queue, size_t domains) : q_(queue), states_(domains, nullptr) {}
    void DomainBegin(uint32_t domain_id, const std::string& domain) override {
      domain_ = &domain;
      state_ = states_[domain_id] = &q_.StateOf(domain);
      entry_ = q_.core_.table().Match(domain);
      deliverable_ = false;
    }
    void Recipients(const spool::RecoveredMessage& message,
                    std::vector<uint32_t> recipient_indexes) override {
      const queue::MessageKey key = queue::MessageKey::FromLocation(message.location);
      q_.index_.AddRecipients(*domain_, key, recipient_indexes);
      const bool routed = message.null_sender || *domain_ == q_.postmaster_domain_;
      if (entry_ == nullptr && routed) state_->routed_when_unserved.insert(key);
      deliverable_ |= entry_ != nullptr ? !entry_->hold : routed;
    }
    void DomainEnd() override {
      if (!deliverable_ || q_.stopped_ || q_.IsHeld(*domain_)) return;
      if (state_->timer == 0 && delivery::RetrySchedule::Due(state_->retry, absl::Now())) {
        q_.ScheduleAttempt(*domain_, kArrivalBatchDelay);
      }
    }
    void Message(const spool::RecoveredMessage& message) override {
      if (message.location.core == static_cast<uint32_t>(q_.core_.index())) {
        q_.segments_.AddMessage(message.location, message.live_recipients);
      }
    }
    void Arrival(uint32_t domain_id, const spool::RecoveredMessage& message) override {
      q_.by_arrival_.push_back(ExpiryEntry{message.arrival_unix_micros, states_[domain_id],
                                           message.location, message.queue_id});
    }

   private:
    QueueService& q_;
    std::vector<DomainState*> states_;  // by recovered domain id
    const std::string* domain_ = nullptr;
    DomainState* state_ = nullptr;
    const config::DomainEntry* entry_ = nullptr;
    bool deliverable_ = false;
  };
  core_.AdoptRecoveredCompletionLog(recovered);
  const uint32_t self = static_cast<uint32_t>(core_.index());
  RecoveryHandOff hand_off(recovered, core_.core_count(), self);
  Loader loader(*this, recovered.domains.size());
  // Before the reactor's first turn and before any core listens (see
  // recovery_handoff.h): the slices follow each other directly.
  while (hand_off.NextSlice(loader)) {
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

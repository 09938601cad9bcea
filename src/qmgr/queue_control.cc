// The parts of QueueService that etrnctl uses: a resumable walk over this
// core's queued (domain, message) pairs, a domain's schedule, and holds.
// Kept apart from queue_service.cc, which is about delivery.
#include <algorithm>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/qmgr/queue_service.h"

namespace etrnd::qmgr {

bool QueueService::ScanQueued(uint64_t* cursor, size_t budget,
                              absl::FunctionRef<void(const QueuedEntry&)> fn) const {
  ETRND_CHECK(budget > 0);
  // Expiry pops entries from the front: a cursor behind them starts at the
  // first one left.
  uint64_t position = std::max(*cursor, by_arrival_popped_);
  const uint64_t end = by_arrival_popped_ + by_arrival_.size();
  size_t visited = 0;
  while (position < end && visited < budget) {
    const ExpiryEntry& entry = by_arrival_[position - by_arrival_popped_];
    ++position;
    ++visited;
    const spool::RecordLocation location = CurrentLocation(entry);  // compaction moves
    const queue::RecipientIndexSet* recipients =
        index_.FindMessage(entry.domain->name, queue::MessageKey::FromLocation(location));
    if (recipients == nullptr || recipients->empty()) continue;
    fn(QueuedEntry{entry.domain->name, entry.queue_id, entry.arrival_unix_micros, location,
                   *recipients});
  }
  ETRND_CHECK(position <= end);
  *cursor = position;
  return position == end;
}

void QueueService::DescribeSchedule(const std::string& domain, std::string* state,
                                    std::optional<int64_t>* next_attempt_s, int* attempts,
                                    std::string* last_error) const {
  *next_attempt_s = std::nullopt;
  *attempts = 0;
  last_error->clear();
  auto it = domains_.find(domain);
  const DomainState* domain_state = it == domains_.end() ? nullptr : it->second.get();
  if (domain_state != nullptr) {
    *attempts = domain_state->retry.failed_attempts;
    *last_error = domain_state->last_error;
  }
  const config::DomainEntry* entry = core_.table().Match(domain);
  if (index_.IsHeld(domain)) {
    *state = "held";
  } else if (domain_state != nullptr && domain_state->flushing) {
    *state = "running";
  } else if (entry == nullptr) {
    *state = "unserved";
  } else if (entry->hold) {
    *state = "etrn";
  } else if (domain_state != nullptr &&
             domain_state->retry.next_attempt > absl::Now() + absl::Seconds(1)) {
    *state = "retry";
    *next_attempt_s = absl::ToInt64Seconds(domain_state->retry.next_attempt - absl::Now());
  } else {
    *state = "due";
    *next_attempt_s = 0;
  }
}

}  // namespace etrnd::qmgr

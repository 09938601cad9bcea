// Compaction, owner-core side: a message moved to a new spool location by
// its segment core's compactor (segment_compactor.cc) takes its index
// entries along, keeping its place in arrival order for expiry and etrnctl.
#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/qmgr/queue_service.h"

namespace etrnd::qmgr {
namespace {

// Mail this close to --max_queue_lifetime stays where it is: the expiry
// sweep may already be reading it.
constexpr absl::Duration kRelocationExpiryMargin = absl::Minutes(1);

}  // namespace

bool QueueService::ExpiresSoon(int64_t arrival_unix_micros) const {
  const absl::Time cutoff =
      absl::Now() - core_.options().max_queue_lifetime + kRelocationExpiryMargin;
  return absl::FromUnixMicros(arrival_unix_micros) <= cutoff;
}

std::optional<std::vector<uint32_t>> QueueService::LiveForRelocation(
    const std::string& domain, const spool::RecordLocation& location,
    int64_t arrival_unix_micros) const {
  if (stopped_ || ExpiresSoon(arrival_unix_micros)) return std::nullopt;
  // An operator's delete or bounce is finding or finishing messages here:
  // what it found must still be where it finishes it.
  if (*relocation_pauses_ > 0) return std::nullopt;
  auto state = domains_.find(domain);
  if (state != domains_.end()) {
    // In a flush job or ODMR turn: its connection may finish the old location.
    if (state->second->flushing) return std::nullopt;
    // A finish on its way to disk: the index still lists what it finishes.
    if (state->second->finishing > 0) return std::nullopt;
  }
  const queue::RecipientIndexSet* queued =
      index_.FindMessage(domain, queue::MessageKey::FromLocation(location));
  if (queued == nullptr) return std::vector<uint32_t>{};
  std::vector<uint32_t> live = queued->ToVector();
  std::sort(live.begin(), live.end());
  return live;
}

bool QueueService::SwapRelocated(const std::string& domain, const spool::RecordLocation& from,
                                 const spool::RecordLocation& to,
                                 const std::vector<uint32_t>& old_indexes,
                                 const std::vector<uint32_t>& new_indexes,
                                 int64_t arrival_unix_micros) {
  ETRND_CHECK(old_indexes.size() == new_indexes.size() && !old_indexes.empty());
  // Anything that changed since the query (a flush started, a recipient
  // finished or is being finished, an operator's delete is running) and the
  // copy is dropped instead: the original stays, and a delete wins.
  std::optional<std::vector<uint32_t>> live = LiveForRelocation(domain, from, arrival_unix_micros);
  if (!live.has_value() || *live != old_indexes) return false;
  const queue::MessageKey old_key = queue::MessageKey::FromLocation(from);
  const queue::MessageKey new_key = queue::MessageKey::FromLocation(to);
  for (uint32_t index : old_indexes) {
    const bool was_queued = index_.FinishRecipient(domain, old_key, index);
    ETRND_CHECK(was_queued);
  }
  const size_t added = index_.AddRecipients(domain, new_key, new_indexes);
  ETRND_CHECK(added == new_indexes.size());
  DomainState& state = StateOf(domain);
  if (state.routed_when_unserved.erase(old_key) > 0) state.routed_when_unserved.insert(new_key);
  // The expiry entry still names the first location: point it here.
  auto origin = moved_from_.find(MovedKey{&state, old_key});
  const queue::MessageKey first = origin == moved_from_.end() ? old_key : origin->second;
  if (origin != moved_from_.end()) moved_from_.erase(origin);
  moved_to_[MovedKey{&state, first}] = new_key;
  moved_from_[MovedKey{&state, new_key}] = first;
  return true;
}

std::shared_ptr<const void> QueueService::PauseRelocations() {
  ++*relocation_pauses_;
  // Shares the counter, not the service: a token may outlive it at shutdown.
  return std::shared_ptr<const void>(nullptr,
                                     [pauses = relocation_pauses_](const void*) { --*pauses; });
}

spool::RecordLocation QueueService::CurrentLocation(const ExpiryEntry& entry) const {
  if (moved_to_.empty()) return entry.location;
  auto it = moved_to_.find(MovedKey{entry.domain, queue::MessageKey::FromLocation(entry.location)});
  return it == moved_to_.end() ? entry.location : it->second.ToLocation();
}

void QueueService::ForgetMoved(const ExpiryEntry& entry) {
  if (moved_to_.empty()) return;
  auto it = moved_to_.find(MovedKey{entry.domain, queue::MessageKey::FromLocation(entry.location)});
  if (it == moved_to_.end()) return;
  moved_from_.erase(MovedKey{entry.domain, it->second});
  moved_to_.erase(it);
}

}  // namespace etrnd::qmgr

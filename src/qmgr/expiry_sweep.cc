// The expiry sweep: mail queued longer than --max_queue_lifetime is read
// back and bounced, one bounded slice at a time (kExpirySweepSlice).
#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/qmgr/queue_service.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

void QueueService::SweepExpired() { SweepExpiredSlice(); }

void QueueService::SweepExpiredSlice() {
  if (stopped_) return;
  ETRND_CHECK(expiry_reads_outstanding_ == 0);
  const absl::Duration lifetime = core_.options().max_queue_lifetime;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - lifetime);
  size_t taken = 0;
  while (taken < kExpirySweepSlice && !by_arrival_.empty() &&
         by_arrival_.front().arrival_unix_micros <= cutoff) {
    ExpiryEntry expired = by_arrival_.front();
    by_arrival_.pop_front();
    ++by_arrival_popped_;
    ++taken;
    const spool::RecordLocation location = CurrentLocation(expired);  // compaction moves
    ForgetMoved(expired);
    const queue::MessageKey key = queue::MessageKey::FromLocation(location);
    if (index_.FindMessage(expired.domain->name, key) == nullptr) continue;  // finished
    ++expiry_reads_outstanding_;
    reader_.Read(location, [this, state = expired.domain,
                            location](absl::StatusOr<spool::SpoolMessage> message) {
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

}  // namespace etrnd::qmgr

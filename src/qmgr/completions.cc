// What happens once a recipient has an outcome: the durable completion
// record, and the GC of spent segments.
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/spool/spool_files.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

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
    spool::SegmentKey segment = SegmentOf(location);
    if (static_cast<int>(location.core) == core_.index()) {
      SegmentRecipientFinished(segment);
    } else {
      core_.SendToQueue(static_cast<int>(location.core), [segment](QueueService& queue) {
        queue.SegmentRecipientFinished(segment);
      });
    }
  });
}

void QueueService::SegmentRecipientFinished(spool::SegmentKey segment) {
  segments_.FinishRecipient(segment);
  CollectGarbage();
}

void QueueService::CollectGarbage() {
  const std::string& spool_dir = core_.options().spool_dir;
  for (const spool::SegmentKey& segment : segments_.TakeDeletable()) {
    // Out of every core's read cache (this one's first), so no cached fd
    // keeps the deleted file's space.
    reader_.EvictSegment(segment);
    for (int i = 0; i < static_cast<int>(core_.core_count()); ++i) {
      if (i == core_.index()) continue;
      core_.SendToQueue(i, [segment](QueueService& queue) { queue.EvictSegment(segment); });
    }
    std::string path = spool::SegmentPath(spool_dir, segment.core, segment.segment_id);
    core_.reactor().Unlink(path, [path](int result) {
      if (result == 0) ETRND_LOG_INFO("segment %s delivered completely: removed", path);
    });
  }
}

}  // namespace etrnd::qmgr

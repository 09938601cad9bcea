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
  DomainState* state = &StateOf(domain);  // states are never erased
  ++state->finishing;
  core_.AppendCompletion(completion, [this, domain, state, location, recipient_index,
                                      settled = std::move(settled)](absl::Status status) {
    ETRND_CHECK(state->finishing > 0);
    --state->finishing;
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
      state->routed_when_unserved.erase(key);
    }
    if (static_cast<int>(location.core) == core_.index()) {
      SegmentRecipientFinished(location);
    } else {
      core_.SendToQueue(static_cast<int>(location.core), [location](QueueService& queue) {
        queue.SegmentRecipientFinished(location);
      });
    }
  });
}

void QueueService::SegmentRecipientFinished(const spool::RecordLocation& location) {
  segments_.FinishRecipient(location);
  CollectGarbage();
}

void QueueService::UnpinSegment(spool::SegmentKey segment) {
  segments_.Unpin(segment);
  CollectGarbage();
}

void QueueService::CollectGarbage() {
  const std::string& spool_dir = core_.options().spool_dir;
  const std::vector<spool::SegmentKey> deletable = segments_.TakeDeletable();
  if (deletable.empty()) return;
  // Once every unlink is done and durable, the completion logs that pointed
  // only into the removed segments can go too (on every core).
  struct Unlinks {
    size_t left;
    std::vector<spool::SegmentKey> removed;
  };
  auto unlinks = std::make_shared<Unlinks>(Unlinks{deletable.size(), {}});
  auto unlinked = [this, unlinks](spool::SegmentKey segment, bool removed) {
    if (removed) unlinks->removed.push_back(segment);
    if (--unlinks->left > 0 || unlinks->removed.empty()) return;
    core_.SyncSpoolDirectoryThen([this, removed = unlinks->removed](bool synced) {
      if (!synced) return;  // the logs stay; recovery compacts them
      for (int i = 0; i < static_cast<int>(core_.core_count()); ++i) {
        core_.TellSegmentsRemoved(i, removed);
      }
    });
  };
  for (const spool::SegmentKey& segment : deletable) {
    // Out of every core's read cache (this one's first), so no cached fd
    // keeps the deleted file's space.
    reader_.EvictSegment(segment);
    for (int i = 0; i < static_cast<int>(core_.core_count()); ++i) {
      if (i == core_.index()) continue;
      core_.SendToQueue(i, [segment](QueueService& queue) { queue.EvictSegment(segment); });
    }
    std::string path = spool::SegmentPath(spool_dir, segment.core, segment.segment_id);
    core_.reactor().Unlink(path, [path, segment, unlinked](int result) {
      if (result == 0) ETRND_LOG_INFO("segment %s delivered completely: removed", path);
      unlinked(segment, result == 0);
    });
  }
}

}  // namespace etrnd::qmgr

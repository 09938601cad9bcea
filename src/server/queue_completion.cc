// What happens once a recipient has an outcome: the durable completion
// record, bounces (DSNs), the expiry sweep and the GC of spent segments.
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/dsn.h"
#include "etrnd/server/core.h"
#include "etrnd/server/queue_service.h"
#include "etrnd/spool/spool_files.h"
#include "queue_domain_state.h"
#include "queue_service_internal.h"

namespace etrnd::server {

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
    Core& segment_core = core_.context().core(location.core);
    if (&segment_core == &core_) {
      SegmentRecipientFinished(location);
    } else {
      core_.SendTo(segment_core, [&segment_core, location] {
        segment_core.queue().SegmentRecipientFinished(location);
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
    ExpiryEntry expired = by_arrival_.front();
    by_arrival_.pop_front();
    ++by_arrival_popped_;
    ++taken;
    const spool::RecordLocation location = CurrentLocation(expired);
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

void QueueService::SegmentRecipientFinished(const spool::RecordLocation& location) {
  segments_.FinishRecipient(location);
  CollectGarbage();
}

void QueueService::CollectGarbage() {
  const std::string& spool_dir = core_.context().options.spool_dir;
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
      for (size_t i = 0; i < core_.context().core_count(); ++i) {
        Core& other = core_.context().core(i);
        if (&other == &core_) {
          core_.SegmentsRemoved(removed);
        } else {
          core_.SendTo(other, [&other, removed] { other.SegmentsRemoved(removed); });
        }
      }
    });
  };
  for (const spool::SegmentKey& segment : deletable) {
    // Out of every core's read cache (this one's first), so no cached fd
    // keeps the deleted file's space.
    reader_.EvictSegment(segment);
    for (size_t i = 0; i < core_.context().core_count(); ++i) {
      Core& other = core_.context().core(i);
      if (&other == &core_) continue;
      core_.SendTo(other, [&other, segment] { other.queue().EvictSegment(segment); });
    }
    std::string path = spool::SegmentPath(spool_dir, segment.core, segment.segment_id);
    core_.reactor().Unlink(path, [path, segment, unlinked](int result) {
      if (result == 0) ETRND_LOG_INFO("segment %s delivered completely: removed", path);
      unlinked(segment, result == 0);
    });
  }
}

}  // namespace etrnd::server

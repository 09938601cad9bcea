// Bounces (DSNs to the sender): a whole flush whose route cannot exist,
// refused recipients, and expired mail.
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "domain_state.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/delivery/dsn.h"
#include "etrnd/qmgr/queue_service.h"
#include "flush_job.h"
#include "queue_service_internal.h"

namespace etrnd::qmgr {

using namespace queue_detail;  // NOLINT: the queue service's own helpers

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
    QueueBounce(*item.message, item.location(), job->domain, std::move(failures), "", false,
                Settler(job));
    item.message.reset();
  }
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
  request.reporting_mta = core_.options().hostname;
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
                                      sender = message.mail_from, parts,
                                      part_done](absl::StatusOr<std::string> queue_id) {
    if (!queue_id.ok()) {
      // The recipients stay queued; the next attempt bounces them again.
      ETRND_LOG_ERROR("%s: bounce not queued: %s", original_id,
                      std::string(queue_id.status().message()));
      part_done();
      return;
    }
    ETRND_LOG_INFO_EVENT(
        "bounce",
        {{"id", original_id}, {"bounce_id", *queue_id}, {"to", sender}, {"nrcpt", failures.size()}},
        "%s: bounce queued as %s, to=<%s>, nrcpt=%d", original_id, *queue_id, sender,
        failures.size());
    ++core_.metrics().bounces_total;
    for (const auto& failure : failures) {
      ++*parts;
      FinishRecipient(domain, location, failure.first, final_outcome, part_done);
    }
    part_done();
  });
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
                       absl::FormatDuration(core_.options().max_queue_lifetime), failures.size());
  QueueBounce(*message, location, state->name, std::move(failures), "", /*expired=*/true, nullptr);
}

}  // namespace etrnd::qmgr

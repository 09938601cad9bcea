#include "etrnd/server/odmr_turn_ledger.h"

#include <utility>

#include "etrnd/common/check.h"

namespace etrnd::server {

void TurnLedger::AddBatch(JobKey job, std::vector<smtp::OutboundMessage>& batch) {
  ETRND_CHECK(!batch.empty());
  const uint64_t key = next_batch_++;
  Batch& record = batches_[key];
  record.job = job;
  record.messages_left = batch.size();
  for (smtp::OutboundMessage& message : batch) {
    ETRND_CHECK(!message.recipients.empty());
    const uint64_t token = next_token_++;
    record.job_tokens.push_back(message.token);
    sent_[token] = Sent{job, message.token, key, message.recipients.size()};
    message.token = token;
  }
}

TurnLedger::Routed TurnLedger::Route(std::vector<smtp::RecipientOutcome> outcomes) {
  Routed routed;
  for (smtp::RecipientOutcome& outcome : outcomes) {
    auto it = sent_.find(outcome.token);
    // The client session answers only what it was given, each recipient once.
    ETRND_CHECK(it != sent_.end());
    Sent& sent = it->second;
    ETRND_CHECK(sent.recipients_left > 0);
    outcome.token = sent.job_token;
    routed.answers[sent.job].push_back(std::move(outcome));
    if (--sent.recipients_left > 0) continue;
    const uint64_t batch_key = sent.batch;
    sent_.erase(it);
    auto batch = batches_.find(batch_key);
    ETRND_CHECK(batch != batches_.end() && batch->second.messages_left > 0);
    if (--batch->second.messages_left == 0) {
      routed.done.push_back(DoneBatch{batch->second.job, std::move(batch->second.job_tokens)});
      batches_.erase(batch);
    }
  }
  return routed;
}

}  // namespace etrnd::server

// The books of one ODMR turn (odmr_turn.h), pure: which owner core's job
// each message handed to the turn's SMTP client came from, the customer's
// answers regrouped per job (tokens back in the job's terms), and the
// batches that are over (every recipient answered) so that their owner job
// may let the bodies go. No reactor, no cores: unit-tested alone.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "etrnd/smtp/client_session.h"

namespace etrnd::server {

class TurnLedger {
 public:
  struct JobKey {
    int core = 0;
    uint64_t job_id = 0;
    auto operator<=>(const JobKey&) const = default;
  };
  struct DoneBatch {
    JobKey job;
    std::vector<size_t> job_tokens;  // the batch's messages, as the job named them
  };
  struct Routed {
    std::map<JobKey, std::vector<smtp::RecipientOutcome>> answers;  // in arrival order
    std::vector<DoneBatch> done;  // after the answers that completed them
  };

  // Records a batch from `job`: each message's token (the job's) is replaced
  // by a turn token unique within the turn. Every message has a recipient.
  void AddBatch(JobKey job, std::vector<smtp::OutboundMessage>& batch);
  // Outcomes carry turn tokens; the result carries the jobs' tokens.
  Routed Route(std::vector<smtp::RecipientOutcome> outcomes);
  // Every recipient of every message handed over has been answered.
  bool all_answered() const { return sent_.empty(); }
  size_t open_batches() const { return batches_.size(); }

 private:
  struct Sent {
    JobKey job;
    uint64_t job_token;
    uint64_t batch;
    size_t recipients_left;
  };
  struct Batch {
    JobKey job;
    std::vector<size_t> job_tokens;
    size_t messages_left;
  };

  uint64_t next_token_ = 1, next_batch_ = 1;
  absl::flat_hash_map<uint64_t, Sent> sent_;
  absl::flat_hash_map<uint64_t, Batch> batches_;
};

}  // namespace etrnd::server

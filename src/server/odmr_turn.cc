#include "etrnd/server/odmr_turn.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/core.h"
#include "etrnd/server/odmr_connection.h"

namespace etrnd::server {
namespace {

smtp::ClientSession::Options TurnClientOptions(Core& core) {
  smtp::ClientSession::Options options;
  options.helo_hostname = core.context().options.hostname;
  // The turn takes what the jobs send: each job has at most
  // kTurnBatchesInFlight batches of --messages_per_connection messages here.
  options.max_messages_per_connection = std::numeric_limits<size_t>::max();
  options.quit_when_idle = false;
  return options;
}

}  // namespace

OdmrTurn::OdmrTurn(Core& core, uint64_t id, std::string user, std::string client)
    : core_(core),
      id_(id),
      user_(std::move(user)),
      client_(std::move(client)),
      session_(TurnClientOptions(core)),
      cores_left_(core.context().core_count()),
      started_(absl::Now()) {}

OdmrTurn::~OdmrTurn() {
  if (timeout_timer_ != 0) core_.reactor().CancelTimer(timeout_timer_);
}

void OdmrTurn::OnShardCounted(size_t messages, size_t jobs, bool last) {
  ETRND_CHECK(cores_left_ > 0);
  messages_ += messages;
  jobs_started_ += jobs;
  // A shard counts the messages of the jobs it started, and only those.
  ETRND_CHECK((messages == 0) == (jobs == 0));
  if (!last) return;
  --cores_left_;
  if (cores_left_ == 0 && counted_) {
    std::function<void(size_t)> counted = std::move(counted_);
    counted_ = nullptr;
    counted(messages_);
  }
  MaybeQuit();
}

void OdmrTurn::OnBatch(int origin_core, uint64_t job_id, std::vector<smtp::OutboundMessage> batch) {
  ledger_.AddBatch(TurnLedger::JobKey{origin_core, job_id}, batch);
  for (smtp::OutboundMessage& message : batch) {
    const uint64_t token = message.token;
    const size_t recipients = message.recipients.size();
    if (!gone_ && session_.Enqueue(std::move(message))) continue;
    // The session is over: the message stays queued on its owner core.
    for (size_t i = 0; i < recipients; ++i) {
      smtp::RecipientOutcome outcome;
      outcome.token = token;
      outcome.recipient_index = i;
      outcome.kind = smtp::RecipientOutcome::kDeferred;
      outcome.reply = "ODMR connection closed before delivery";
      outcome.connection_level = true;
      late_outcomes_.push_back(std::move(outcome));
    }
  }
  Pump();
}

void OdmrTurn::OnJobDone() {
  ++jobs_done_;
  ETRND_CHECK(jobs_done_ <= jobs_started_);
  MaybeQuit();
}

void OdmrTurn::Attach(std::unique_ptr<OdmrStream> stream) {
  ETRND_CHECK(stream_ == nullptr && stream != nullptr && !gone_);
  stream_ = std::move(stream);
  ETRND_LOG_INFO_EVENT("atrn_turn", {{"user", user_}, {"client", client_}, {"messages", messages_}},
                       "ATRN %s from %s: reversing the connection for %d messages", user_, client_,
                       messages_);
  Pump();
}

void OdmrTurn::OnBytes(std::string_view bytes) {
  if (stream_ == nullptr) return;
  std::string plaintext;
  bool established = false;
  if (absl::Status status = stream_->Receive(bytes, &plaintext, &established); !status.ok()) {
    // TLS broke or the customer ended it: as a lost connection (OnClosed
    // defers what is not answered).
    ETRND_LOG_INFO("ATRN %s from %s: %s", user_, client_, std::string(status.message()));
    stream_->Abort();
    return;
  }
  session_.OnBytes(plaintext);
  Pump();
}

void OdmrTurn::OnConnectionGone(int error) {
  if (gone_) return;
  gone_ = true;
  counted_ = nullptr;
  stream_.reset();  // its connection is going away
  if (timeout_timer_ != 0) {
    core_.reactor().CancelTimer(timeout_timer_);
    timeout_timer_ = 0;
  }
  if (!session_.done()) {
    if (error != 0)
      ETRND_LOG_INFO("ATRN %s from %s: connection failed: error %d", user_, client_, error);
    session_.OnConnectionLost();
  }
  session_.TakeOutput();
  RouteOutcomes();
  if (finished()) Log();
}

bool OdmrTurn::finished() const {
  return gone_ && cores_left_ == 0 && jobs_done_ == jobs_started_ && ledger_.all_answered();
}

void OdmrTurn::Pump() {
  std::vector<smtp::OutputChunk> output = session_.TakeOutput();
  if (stream_ != nullptr) {
    for (const auto& chunk : output) stream_->Send(chunk.bytes());
  }
  RouteOutcomes();
  MaybeQuit();
  if (session_.done()) {
    if (stream_ != nullptr) stream_->Close();
    return;
  }
  ArmTimeout();
}

void OdmrTurn::RouteOutcomes() {
  std::vector<smtp::RecipientOutcome> outcomes = session_.TakeOutcomes();
  for (auto& late : late_outcomes_) outcomes.push_back(std::move(late));
  late_outcomes_.clear();
  if (outcomes.empty()) return;
  for (const smtp::RecipientOutcome& outcome : outcomes) {
    switch (outcome.kind) {
      case smtp::RecipientOutcome::kDelivered:
        ++delivered_;
        break;
      case smtp::RecipientOutcome::kDeferred:
        ++deferred_;
        break;
      case smtp::RecipientOutcome::kBounced:
        ++bounced_;
        break;
    }
  }
  TurnLedger::Routed routed = ledger_.Route(std::move(outcomes));
  // Per owner job, in order: the answers, then the batches they complete
  // (PostTo keeps the order per target core).
  ServerContext& context = core_.context();
  for (auto& [job, list] : routed.answers) {
    Core* owner = &context.core(job.core);
    core_.SendTo(*owner, [owner, job_id = job.job_id, list = std::move(list)] {
      owner->queue().OnTurnOutcomes(job_id, list);
    });
  }
  for (TurnLedger::DoneBatch& batch : routed.done) {
    Core* owner = &context.core(batch.job.core);
    core_.SendTo(*owner, [owner, job_id = batch.job.job_id, tokens = std::move(batch.job_tokens)] {
      owner->queue().OnTurnBatchDone(job_id, tokens);
    });
  }
}

void OdmrTurn::MaybeQuit() {
  if (cores_left_ > 0 || jobs_done_ < jobs_started_ || !ledger_.all_answered()) return;
  if (stream_ == nullptr || session_.done() || quit_sent_) return;
  quit_sent_ = true;
  session_.Quit();
  for (const auto& chunk : session_.TakeOutput()) stream_->Send(chunk.bytes());
  if (session_.done()) stream_->Close();
}

void OdmrTurn::ArmTimeout() {
  if (timeout_timer_ != 0) core_.reactor().CancelTimer(timeout_timer_);
  timeout_timer_ = 0;
  if (stream_ == nullptr) return;
  absl::Duration wait = session_.reply_timeout();
  if (wait == absl::InfiniteDuration()) return;
  wait = std::min(wait, core_.context().options.delivery_timeout);
  timeout_timer_ = core_.reactor().RunAfter(wait, [this] {
    timeout_timer_ = 0;
    ETRND_LOG_INFO("ATRN %s from %s: reply timeout from the customer", user_, client_);
    session_.OnTimeout();
    Pump();
    if (stream_ != nullptr) stream_->Abort();
  });
}

void OdmrTurn::Log() const {
  ETRND_LOG_INFO_EVENT("atrn_done",
                       {{"user", user_},
                        {"client", client_},
                        {"messages", messages_},
                        {"delivered", delivered_},
                        {"deferred", deferred_},
                        {"bounced", bounced_}},
                       "ATRN %s from %s done in %s: %d recipients delivered, %d deferred, %d "
                       "bounced",
                       user_, client_, absl::FormatDuration(absl::Now() - started_), delivered_,
                       deferred_, bounced_);
}

OdmrTurn& OdmrTurns::Create(Core& core, std::string user, std::string client) {
  const uint64_t id = next_id_++;
  auto turn = std::make_unique<OdmrTurn>(core, id, std::move(user), std::move(client));
  OdmrTurn& ref = *turn;
  turns_.emplace(id, std::move(turn));
  return ref;
}

void OdmrTurn::Close() {
  if (stream_ != nullptr) stream_->Close();
}

void OdmrTurns::Shutdown() {
  std::vector<OdmrConnection*> sessions(sessions_.begin(), sessions_.end());
  for (OdmrConnection* session : sessions) session->Shutdown();
  for (auto& [id, turn] : turns_) turn->Close();
}

OdmrTurn* OdmrTurns::Find(uint64_t id) {
  auto it = turns_.find(id);
  return it == turns_.end() ? nullptr : it->second.get();
}

void OdmrTurns::Reap(uint64_t id) {
  auto it = turns_.find(id);
  if (it != turns_.end() && it->second->finished()) turns_.erase(it);
}

void DeliverTurnBatch(Core& turn_core, uint64_t turn_id, int origin_core, uint64_t job_id,
                      std::vector<smtp::OutboundMessage> batch) {
  OdmrTurn* turn = turn_core.odmr_turns().Find(turn_id);
  // A turn waits for all of its jobs before it goes.
  ETRND_CHECK(turn != nullptr);
  turn->OnBatch(origin_core, job_id, std::move(batch));
  turn_core.odmr_turns().Reap(turn_id);
}

void DeliverTurnCount(Core& turn_core, uint64_t turn_id, size_t messages, size_t jobs, bool last) {
  OdmrTurn* turn = turn_core.odmr_turns().Find(turn_id);
  ETRND_CHECK(turn != nullptr);
  turn->OnShardCounted(messages, jobs, last);
  turn_core.odmr_turns().Reap(turn_id);
}

void DeliverTurnJobDone(Core& turn_core, uint64_t turn_id) {
  OdmrTurn* turn = turn_core.odmr_turns().Find(turn_id);
  ETRND_CHECK(turn != nullptr);
  turn->OnJobDone();
  turn_core.odmr_turns().Reap(turn_id);
}

}  // namespace etrnd::server

// A fake qmgr::CoreServices for the queue manager's unit tests: one core,
// a real Reactor (timers, posts, the spool reader's file ops), and
// everything else recorded in memory: stored bounces, completion records,
// and outbound connections, which a test answers with `on_deliver`.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/qmgr/core_services.h"
#include "etrnd/qmgr/queue_service.h"
#include "gtest/gtest.h"

namespace etrnd::qmgr::testing {

class FakeCore : public CoreServices {
 public:
  // What the fake answers for one outbound connection: called when it
  // opens; the test posts (or holds) its outcomes and `finished`.
  using DeliverHandler = std::function<void(DeliveryAttempt&)>;

  FakeCore(reactor::Reactor& reactor, QueueOptions options,
           std::shared_ptr<const config::DomainsTable> table)
      : reactor_(reactor), options_(std::move(options)), table_(std::move(table)) {}

  int index() const override { return 0; }
  size_t core_count() const override { return 1; }
  reactor::Reactor& reactor() override { return reactor_; }
  const QueueOptions& options() const override { return options_; }
  const config::DomainsTable& table() const override { return *table_; }
  metrics::CoreMetrics& metrics() override { return metrics_; }

  void SendToQueue(int target, std::function<void(QueueService&)> fn) override {
    EXPECT_EQ(target, 0);
    reactor_.Post([this, fn = std::move(fn)] { fn(*queue); });
  }
  std::string NewQueueId() override { return absl::StrCat("BOUNCE", next_id_++); }
  void StoreMessage(spool::SpoolMessage message,
                    std::function<void(absl::StatusOr<std::string>)> done) override {
    stored.push_back(std::move(message));
    std::string id = stored.back().queue_id;
    reactor_.Post([done = std::move(done), id] { done(id); });
  }
  void AppendCompletion(const spool::SpoolCompletion& completion,
                        std::function<void(absl::Status)> done) override {
    completions.push_back(completion);
    reactor_.Post([done = std::move(done)] { done(absl::OkStatus()); });
  }
  void SyncSpoolDirectoryThen(std::function<void(bool synced)> then) override {
    reactor_.Post([then = std::move(then)] { then(true); });
  }
  void TellSegmentsRemoved(int target, std::vector<spool::SegmentKey> segments) override {
    EXPECT_EQ(target, 0);
    removed_segments.insert(removed_segments.end(), segments.begin(), segments.end());
  }
  void AdoptRecoveredCompletionLog(const spool::RecoveryResult& /*recovered*/) override {}
  void ResolveNextHop(
      const std::string& /*domain*/, const config::NextHop& /*next_hop*/,
      std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done) override {
    reactor_.Post([this, done = std::move(done)] {
      if (!route_error.ok()) {
        done(route_error);
      } else {
        done(targets);
      }
    });
  }
  std::shared_ptr<const transport::TlsContext> ClientTls(bool /*verify*/) const override {
    return nullptr;
  }
  void Deliver(DeliveryAttempt attempt) override {
    attempts.push_back(std::make_unique<DeliveryAttempt>(std::move(attempt)));
    // The TCP connection is up (ConnectGate's slot frees), unless the test
    // plays a connect that fails.
    if (connects && attempts.back()->connected) attempts.back()->connected();
    ASSERT_TRUE(on_deliver) << "a connection nobody answers";
    on_deliver(*attempts.back());
  }
  // ODMR: batches for a turn (on this one core); `on_turn_batch` answers.
  void SendTurnBatch(int turn_core, uint64_t /*turn_id*/, uint64_t job_id,
                     std::vector<smtp::OutboundMessage> batch) override {
    EXPECT_EQ(turn_core, 0);
    turn_batches.push_back(batch);
    ASSERT_TRUE(on_turn_batch) << "a turn batch nobody answers";
    on_turn_batch(job_id, std::move(batch));
  }
  void SendTurnJobDone(int turn_core, uint64_t /*turn_id*/) override {
    EXPECT_EQ(turn_core, 0);
    ++turn_jobs_done;
  }

  // Answers every recipient of `attempt` (later, from the loop), then ends
  // the connection; kind_of decides each recipient's outcome.
  void Answer(DeliveryAttempt& attempt,
              const std::function<smtp::RecipientOutcome(const std::string&)>& kind_of) {
    std::vector<smtp::RecipientOutcome> outcomes;
    for (const smtp::OutboundMessage& message : attempt.messages) {
      for (size_t i = 0; i < message.recipients.size(); ++i) {
        smtp::RecipientOutcome outcome = kind_of(message.recipients[i]);
        outcome.token = message.token;
        outcome.recipient_index = i;
        outcomes.push_back(std::move(outcome));
      }
    }
    reactor_.Post([&attempt, outcomes = std::move(outcomes)] {
      for (const smtp::RecipientOutcome& outcome : outcomes) attempt.outcomes(outcome);
      attempt.finished();
    });
  }

  QueueService* queue = nullptr;  // set by the test once it exists
  std::vector<delivery::RouteTarget> targets;
  absl::Status route_error;  // not ok: ResolveNextHop answers it
  DeliverHandler on_deliver;
  bool connects = true;  // false: attempts never connect (refused, unreachable)
  std::function<void(uint64_t job_id, std::vector<smtp::OutboundMessage>)> on_turn_batch;
  std::vector<std::vector<smtp::OutboundMessage>> turn_batches;  // every batch sent to a turn
  size_t turn_jobs_done = 0;
  std::vector<std::unique_ptr<DeliveryAttempt>> attempts;  // every connection opened
  std::vector<spool::SpoolMessage> stored;                 // bounces
  std::vector<spool::SpoolCompletion> completions;
  std::vector<spool::SegmentKey> removed_segments;

 private:
  reactor::Reactor& reactor_;
  const QueueOptions options_;
  std::shared_ptr<const config::DomainsTable> table_;
  metrics::CoreMetrics metrics_;
  int next_id_ = 1;
};

inline smtp::RecipientOutcome Outcome(smtp::RecipientOutcome::Kind kind, std::string reply,
                                      bool connection_level = false) {
  smtp::RecipientOutcome outcome;
  outcome.kind = kind;
  outcome.code = std::atoi(reply.substr(0, 3).c_str());
  outcome.reply = std::move(reply);
  outcome.connection_level = connection_level;
  return outcome;
}

}  // namespace etrnd::qmgr::testing

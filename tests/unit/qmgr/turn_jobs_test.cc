// ODMR turn jobs (src/qmgr/turn_jobs.cc) against a fake core: the ATRN's
// walk over the plan's domains and each job's set-up run in bounded slices,
// never in the ATRN's own loop turn, and every queued message is handed to
// the turn once.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/etrn/atrn_policy.h"
#include "etrnd/qmgr/queue_service.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "qmgr_test_harness.h"
#include "queue_service_internal.h"
#include "spool_writer.h"
#include "temp_dir.h"

namespace etrnd::qmgr {
namespace {

using queue_detail::kFlushSetupSlice;
using queue_detail::kTurnStartSlice;
using testing::QueueOnReactor;
using testing::WriteMessages;
using testing::WrittenMessage;

constexpr char kUser[] = "alice";
constexpr int kTicksMax = 60000;  // how long a turn may take, in one-millisecond ticks

struct Counted {
  TurnShardResult started;
  bool last;
};

struct TurnRun {
  std::vector<Counted> counted;
  uint64_t slices_before = 0;            // set-up slices when the ATRN came
  uint64_t slices_in_atrn_turn = 0;      // run inside StartTurn itself
  uint64_t slices_after = 0;             // once the turn was over
  std::map<std::string, int> sightings;  // recipient: times handed to the turn
  size_t jobs_done = 0;
  size_t completions = 0;
};

// Answers every batch sent to the turn as its core would: each recipient
// delivered, then the batch done; `sightings` counts each recipient.
void DeliverTurnBatches(QueueOnReactor& core, std::map<std::string, int>& sightings) {
  core.fake.on_turn_batch = [&](uint64_t job_id, std::vector<smtp::OutboundMessage> batch) {
    std::vector<smtp::RecipientOutcome> outcomes;
    std::vector<size_t> tokens;
    for (const smtp::OutboundMessage& message : batch) {
      tokens.push_back(message.token);
      for (size_t i = 0; i < message.recipients.size(); ++i) {
        ++sightings[message.recipients[i]];
        smtp::RecipientOutcome outcome =
            testing::Outcome(smtp::RecipientOutcome::kDelivered, "250 2.0.0 ok");
        outcome.token = message.token;
        outcome.recipient_index = i;
        outcomes.push_back(std::move(outcome));
      }
    }
    core.reactor.Post(
        [&queue = core.queue, job_id, outcomes = std::move(outcomes), tokens = std::move(tokens)] {
          queue.OnTurnOutcomes(job_id, outcomes);
          queue.OnTurnBatchDone(job_id, tokens);
        });
  };
}

// Queues `written` on a held (ETRN/ATRN-only) table, then runs one ATRN of
// `plan` whose turn delivers everything it is sent.
TurnRun RunTurn(const std::string& table_text, const std::vector<WrittenMessage>& written,
                const etrn::AtrnPlan& plan, const std::string& spool_dir) {
  TurnRun run;
  QueueOptions options = testing::BaseQueueOptions(spool_dir);
  options.max_queue_lifetime = absl::Hours(24);
  options.messages_per_connection = 100;
  bool started = false;
  auto turn_is_over = [&](QueueOnReactor& core) {
    if (!started && core.queue.queued_messages() == written.size()) {
      started = true;
      run.slices_before = core.queue.flush_setup_slices();
      core.queue.StartTurn(plan, kUser, "192.0.2.9", /*turn_core=*/0, /*turn_id=*/1,
                           [&](TurnShardResult counted, bool last) {
                             run.counted.push_back(Counted{counted, last});
                           });
      run.slices_in_atrn_turn = core.queue.flush_setup_slices() - run.slices_before;
    }
    size_t jobs = 0;
    for (const Counted& counted : run.counted) jobs += counted.started.jobs;
    return started && !run.counted.empty() && run.counted.back().last &&
           core.queue.flushes_running() == 0 && core.fake.turn_jobs_done == jobs;
  };
  auto queue_and_turn = [&](QueueOnReactor& core) {
    DeliverTurnBatches(core, run.sightings);
    testing::QueueWritten(core.queue, written);
    testing::PollEveryMillisecond(
        core.reactor, kTicksMax, "the turn never ended", [&] { return turn_is_over(core); },
        [&] {
          run.slices_after = core.queue.flush_setup_slices();
          run.jobs_done = core.fake.turn_jobs_done;
          run.completions = core.fake.completions.size();
          core.Stop();
        });
  };
  testing::RunQueueOnReactorThread(options, table_text, /*prepare_fake=*/nullptr, queue_and_turn);
  return run;
}

size_t Slices(size_t messages) { return (messages + kFlushSetupSlice - 1) / kFlushSetupSlice; }

TEST(TurnJobsTest, ABigDomainIsSetUpInSlicesAndEveryMessageHandedOutOnce) {
  spool::testing::TempDir dir;
  constexpr size_t kMessages = 3 * kFlushSetupSlice + 17;
  std::vector<std::vector<std::string>> recipients;
  for (size_t i = 0; i < kMessages; ++i) recipients.push_back({absl::StrCat("u", i, "@big.test")});
  const std::vector<WrittenMessage> written = WriteMessages(dir.path(), recipients);
  etrn::AtrnPlan plan;
  plan.domains = {"big.test"};
  const TurnRun run = RunTurn(absl::StrCat("big.test 192.0.2.1:25 hold auth=", kUser, "\n"),
                              written, plan, dir.path());
  ASSERT_EQ(run.counted.size(), 1u);
  EXPECT_TRUE(run.counted[0].last);
  EXPECT_EQ(run.counted[0].started.jobs, 1u);
  EXPECT_EQ(run.counted[0].started.messages, kMessages);
  // Not one message copied in the ATRN's own turn; then one slice per
  // kFlushSetupSlice messages, each in a turn of its own.
  EXPECT_EQ(run.slices_in_atrn_turn, 0u);
  EXPECT_EQ(run.slices_after - run.slices_before, Slices(kMessages));
  EXPECT_GT(Slices(kMessages), 1u);
  EXPECT_EQ(run.jobs_done, 1u);
  ASSERT_EQ(run.sightings.size(), kMessages);
  for (const auto& [rcpt, times] : run.sightings) EXPECT_EQ(times, 1) << rcpt;
  EXPECT_EQ(run.completions, kMessages);
}

TEST(TurnJobsTest, ManyDomainsAreWalkedInSlicesEachTurnedOnce) {
  spool::testing::TempDir dir;
  constexpr size_t kDomains = kTurnStartSlice + 44;
  std::vector<std::vector<std::string>> recipients;
  for (size_t i = 0; i < kDomains; ++i) {
    recipients.push_back({absl::StrCat("u@d", i, ".cust.test")});
  }
  recipients.push_back({"u@cust.test"});  // the root itself: not a subdomain
  const std::vector<WrittenMessage> written = WriteMessages(dir.path(), recipients);
  etrn::AtrnPlan plan;
  plan.domains = {"d7.cust.test"};  // named and under the root: one job
  plan.subtrees = {"cust.test"};
  const TurnRun run = RunTurn(absl::StrCat("cust.test 192.0.2.1:25 hold\n.cust.test 192.0.2.1:25 "
                                           "hold auth=",
                                           kUser, "\n"),
                              written, plan, dir.path());
  ASSERT_GE(run.counted.size(), 2u);  // more than one loop turn
  size_t jobs = 0, messages = 0;
  for (size_t i = 0; i < run.counted.size(); ++i) {
    EXPECT_EQ(run.counted[i].last, i + 1 == run.counted.size());
    EXPECT_LE(run.counted[i].started.jobs, kTurnStartSlice);
    jobs += run.counted[i].started.jobs;
    messages += run.counted[i].started.messages;
  }
  EXPECT_EQ(jobs, kDomains);
  EXPECT_EQ(messages, kDomains);
  EXPECT_EQ(run.slices_in_atrn_turn, 0u);
  EXPECT_EQ(run.jobs_done, kDomains);
  ASSERT_EQ(run.sightings.size(), kDomains);
  for (const auto& [rcpt, times] : run.sightings) EXPECT_EQ(times, 1) << rcpt;
  EXPECT_FALSE(run.sightings.contains("u@cust.test"));
}

}  // namespace
}  // namespace etrnd::qmgr

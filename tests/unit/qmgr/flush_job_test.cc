// The flush job against a fake core (fake_core.h): real spool files written
// by the real SegmentAppender, read back by the queue's real SpoolReader on a
// real Reactor thread; routes, outbound connections, bounces and completion
// records are the fake's.

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/spool_reader.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "qmgr_test_harness.h"
#include "queue_service_internal.h"
#include "spool_writer.h"
#include "temp_dir.h"

namespace etrnd::qmgr {
namespace {

using queue_detail::kFlushReadAheadMessages;
using queue_detail::kFlushSetupSlice;
using smtp::RecipientOutcome;
using testing::FakeCore;
using testing::Outcome;
using testing::QueueOnReactor;
using testing::WriteMessages;
using Written = testing::WrittenMessage;

constexpr char kDomain[] = "example.com";
constexpr int kTicksMax = 120000;  // how long a test waits, in one-millisecond ticks

QueueOptions TestOptions(const std::string& spool_dir) {
  QueueOptions options = testing::BaseQueueOptions(spool_dir);
  options.retry_initial = absl::Milliseconds(30);
  options.retry_max = absl::Milliseconds(30);
  options.max_queue_lifetime = absl::Hours(24);
  options.connections_per_destination = 4;
  options.messages_per_connection = 100;
  return options;
}

std::vector<delivery::RouteTarget> Targets(int count) {
  std::vector<delivery::RouteTarget> targets;
  for (int i = 0; i < count; ++i) {
    targets.push_back({*SocketAddress::Parse(absl::StrCat("192.0.2.", i + 1, ":25")),
                       absl::StrCat("mx", i + 1, ".example.com")});
  }
  return targets;
}

// Stops the queue, then its loop once the reads and connections still out
// (they call back into the queue) have ended.
void StopOnceReadsAndFlushesEnd(QueueOnReactor& core) {
  core.queue.Stop();
  testing::PollEveryMillisecond(
      core.reactor, kTicksMax, "the queue's reads and flushes never ended",
      [&] { return core.reactor.file_ops_in_flight() == 0 && core.queue.flushes_running() == 0; },
      [&] { core.reactor.Stop(); });
}

// Runs a queue over `written` on a reactor thread: `setup` prepares the
// fake, then every message is handed to the queue (its domain is served and
// not `hold`, so a flush starts), and `tick` runs every millisecond until it
// returns true; `check` then looks at the fake and the queue, and the loop
// ends.
void RunQueue(const QueueOptions& options, const std::vector<Written>& written,
              const std::function<void(FakeCore&)>& setup,
              const std::function<bool(FakeCore&, QueueService&)>& tick,
              const std::function<void(FakeCore&, QueueService&)>& check) {
  auto queue_and_wait = [&](QueueOnReactor& core) {
    testing::QueueWritten(core.queue, written);
    testing::PollEveryMillisecond(
        core.reactor, kTicksMax, "the queue never got where the test waits for",
        [&] { return tick(core.fake, core.queue); },
        [&] {
          check(core.fake, core.queue);
          StopOnceReadsAndFlushesEnd(core);
        });
  };
  testing::RunQueueOnReactorThread(options, absl::StrCat(kDomain, " 192.0.2.1:25\n"), setup,
                                   queue_and_wait);
}

using RecipientKey = std::tuple<uint64_t, uint64_t, uint32_t>;  // segment, offset, index

std::map<RecipientKey, std::vector<spool::RecipientOutcome>> CompletionsByRecipient(
    const FakeCore& fake) {
  std::map<RecipientKey, std::vector<spool::RecipientOutcome>> by_recipient;
  for (const spool::SpoolCompletion& c : fake.completions) {
    by_recipient[{c.segment_id, c.offset, c.recipient_index}].push_back(c.outcome);
  }
  return by_recipient;
}

// Each address's appearances across every connection the fake saw.
std::map<std::string, int> Sightings(const FakeCore& fake) {
  std::map<std::string, int> seen;
  for (const auto& attempt : fake.attempts) {
    for (const smtp::OutboundMessage& message : attempt->messages) {
      for (const std::string& rcpt : message.recipients) ++seen[rcpt];
    }
  }
  return seen;
}

TEST(FlushJobTest, EveryRecipientGetsExactlyOneOutcomeAndSetUpRunsInSlices) {
  spool::testing::TempDir dir;
  constexpr size_t kMessages = 2 * kFlushSetupSlice + 500;
  std::vector<std::vector<std::string>> recipients;
  size_t bouncing_messages = 0, deferring_messages = 0;
  for (size_t i = 0; i < kMessages; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 10) {
      case 3:
        recipients.push_back({"bounce" + n + "@example.com"});
        ++bouncing_messages;
        break;
      case 5:
        recipients.push_back({"ok" + n + "@example.com", "bounce" + n + "@example.com"});
        ++bouncing_messages;
        break;
      case 7:
        recipients.push_back({"defer" + n + "@example.com", "ok" + n + "b@example.com"});
        ++deferring_messages;
        break;
      default:
        recipients.push_back({"ok" + n + "@example.com"});
    }
  }
  const std::vector<Written> written = WriteMessages(dir.path(), recipients);

  std::set<std::string> deferred_once;
  size_t read_ahead_max = 0;
  RunQueue(
      TestOptions(dir.path()), written,
      [&](FakeCore& fake) {
        fake.targets = Targets(1);
        fake.on_deliver = [&fake, &deferred_once](DeliveryAttempt& attempt) {
          fake.Answer(attempt, [&](const std::string& rcpt) {
            if (absl::StartsWith(rcpt, "bounce")) {
              return Outcome(RecipientOutcome::kBounced, "550 5.1.1 user unknown");
            }
            if (absl::StartsWith(rcpt, "defer") && deferred_once.insert(rcpt).second) {
              return Outcome(RecipientOutcome::kDeferred, "451 4.3.0 try later");
            }
            return Outcome(RecipientOutcome::kDelivered, "250 2.0.0 ok");
          });
        };
      },
      [&](FakeCore& /*fake*/, QueueService& queue) {
        spool::SpoolReader& reader = queue.spool_reader();
        read_ahead_max = std::max(read_ahead_max, reader.reads_in_flight() + reader.reads_queued());
        return queue.queued_recipients() == 0 && queue.flushes_running() == 0;
      },
      [&](FakeCore& fake, QueueService& queue) {
        // One completion per recipient, never two: delivered, or bounced
        // once its DSN was stored; the deferred ones at their next attempt.
        const auto completions = CompletionsByRecipient(fake);
        size_t delivered = 0, bounced = 0;
        for (size_t i = 0; i < written.size(); ++i) {
          const spool::RecordLocation& at = written[i].location;
          for (uint32_t r = 0; r < recipients[i].size(); ++r) {
            auto it = completions.find({at.segment_id, at.offset, r});
            ASSERT_NE(it, completions.end()) << recipients[i][r] << " has no outcome";
            ASSERT_EQ(it->second.size(), 1u) << recipients[i][r] << " finished twice";
            const bool bounce = absl::StartsWith(recipients[i][r], "bounce");
            EXPECT_EQ(it->second[0], bounce ? spool::RecipientOutcome::kBounced
                                            : spool::RecipientOutcome::kDelivered)
                << recipients[i][r];
            ++(bounce ? bounced : delivered);
          }
        }
        EXPECT_EQ(fake.completions.size(), delivered + bounced);
        // One DSN per message with refused recipients, to its sender.
        ASSERT_EQ(fake.stored.size(), bouncing_messages);
        for (const spool::SpoolMessage& dsn : fake.stored) {
          EXPECT_EQ(dsn.mail_from, "");
          EXPECT_EQ(dsn.recipients, std::vector<std::string>{"sender@example.org"});
        }
        // A deferred recipient went out twice (deferred, then delivered at
        // the rescheduled attempt); every other one once.
        for (const auto& [rcpt, times] : Sightings(fake)) {
          EXPECT_EQ(times, absl::StartsWith(rcpt, "defer") ? 2 : 1) << rcpt;
        }
        EXPECT_EQ(deferred_once.size(), deferring_messages);
        EXPECT_EQ(queue.queued_messages(), 0u);
        // Set-up in slices of kFlushSetupSlice: the first flush took its
        // messages in ceil(kMessages / slice), the retry of the deferred
        // ones in ceil(deferring / slice).
        auto slices = [](size_t messages) {
          return (messages + kFlushSetupSlice - 1) / kFlushSetupSlice;
        };
        EXPECT_EQ(queue.flush_setup_slices(), slices(kMessages) + slices(deferring_messages));
      });

  EXPECT_LE(read_ahead_max, kFlushReadAheadMessages);
}

// With its one connection held, a flush reads ahead exactly
// kFlushReadAheadMessages beyond what the connection took, then waits.
TEST(FlushJobTest, ReadAheadStopsAtItsBoundWhileTheConnectionIsBusy) {
  spool::testing::TempDir dir;
  constexpr size_t kMessages = kFlushSetupSlice + 100;
  constexpr size_t kPerConnection = 10;
  std::vector<std::vector<std::string>> recipients;
  for (size_t i = 0; i < kMessages; ++i)
    recipients.push_back({absl::StrCat("ok", i, "@example.com")});
  const std::vector<Written> written = WriteMessages(dir.path(), recipients);
  QueueOptions options = TestOptions(dir.path());
  options.connections_per_destination = 1;
  options.messages_per_connection = kPerConnection;

  DeliveryAttempt* held = nullptr;
  uint64_t reads_while_held = 0;
  RunQueue(
      options, written,
      [&](FakeCore& fake) {
        fake.targets = Targets(1);
        fake.on_deliver = [&fake, &held](DeliveryAttempt& attempt) {
          if (fake.attempts.size() == 1) {
            held = &attempt;  // answered by the tick below
            return;
          }
          fake.Answer(attempt, [](const std::string&) {
            return Outcome(RecipientOutcome::kDelivered, "250 ok");
          });
        };
      },
      [&](FakeCore& fake, QueueService& queue) {
        spool::SpoolReader& reader = queue.spool_reader();
        // Set-up done and no read outstanding: only the held connection can
        // make the job read more.
        if (held != nullptr && queue.flush_setup_slices() == 2 && reader.reads_in_flight() == 0 &&
            reader.reads_queued() == 0 && reads_while_held == 0) {
          reads_while_held = reader.reads_started();
          EXPECT_EQ(held->messages.size(), kPerConnection);
          fake.Answer(*held, [](const std::string&) {
            return Outcome(RecipientOutcome::kDelivered, "250 ok");
          });
        }
        return queue.queued_recipients() == 0 && queue.flushes_running() == 0;
      },
      [&](FakeCore& fake, QueueService&) {
        EXPECT_EQ(fake.completions.size(), kMessages);
        for (const auto& [rcpt, times] : Sightings(fake)) EXPECT_EQ(times, 1) << rcpt;
        EXPECT_EQ(fake.attempts.size(), (kMessages + kPerConnection - 1) / kPerConnection);
      });
  EXPECT_EQ(reads_while_held, kPerConnection + kFlushReadAheadMessages);
}

// A connection lost before any answer: with one address its messages are
// deferred (no completion) and the next attempt delivers them; with two,
// the same messages go to the next address within the same flush.
TEST(FlushJobTest, DroppedConnectionDefersItsMessages) {
  for (int addresses : {1, 2}) {
    SCOPED_TRACE(absl::StrCat(addresses, " addresses"));
    spool::testing::TempDir dir;
    std::vector<std::vector<std::string>> recipients;
    for (int i = 0; i < 30; ++i) recipients.push_back({absl::StrCat("ok", i, "@example.com")});
    const std::vector<Written> written = WriteMessages(dir.path(), recipients);
    size_t completions_after_drop = 0;
    RunQueue(
        TestOptions(dir.path()), written,
        [&](FakeCore& fake) {
          fake.targets = Targets(addresses);
          fake.on_deliver = [&fake, &completions_after_drop](DeliveryAttempt& attempt) {
            if (fake.attempts.size() == 1) {
              fake.Answer(attempt, [](const std::string&) {
                return Outcome(RecipientOutcome::kDeferred, "421 4.4.2 connection lost",
                               /*connection_level=*/true);
              });
              return;
            }
            completions_after_drop = fake.completions.size();
            fake.Answer(attempt, [](const std::string&) {
              return Outcome(RecipientOutcome::kDelivered, "250 ok");
            });
          };
        },
        [&](FakeCore&, QueueService& queue) {
          return queue.queued_recipients() == 0 && queue.flushes_running() == 0;
        },
        [&](FakeCore& fake, QueueService& queue) {
          ASSERT_EQ(fake.attempts.size(), 2u);
          EXPECT_EQ(completions_after_drop, 0u) << "a dropped connection finished nothing";
          EXPECT_EQ(fake.attempts[0]->target.ToString(), Targets(addresses)[0].address.ToString());
          EXPECT_EQ(fake.attempts[1]->target.ToString(),
                    Targets(addresses)[addresses - 1].address.ToString());
          EXPECT_EQ(fake.attempts[1]->messages.size(), 30u);
          EXPECT_EQ(fake.completions.size(), 30u);
          // Two addresses: one flush (one set-up slice); one address: the
          // retry is a second flush.
          EXPECT_EQ(queue.flush_setup_slices(), addresses == 2 ? 1u : 2u);
        });
  }
}

// A route that cannot exist (no such domain): every message bounces as its
// read comes back, with no connection opened; one DSN per message.
TEST(FlushJobTest, NoSuchDomainBouncesEveryMessage) {
  spool::testing::TempDir dir;
  std::vector<std::vector<std::string>> recipients;
  for (size_t i = 0; i < kFlushReadAheadMessages + 50; ++i) {
    recipients.push_back(
        {absl::StrCat("a", i, "@example.com"), absl::StrCat("b", i, "@example.com")});
  }
  const std::vector<Written> written = WriteMessages(dir.path(), recipients);
  RunQueue(
      TestOptions(dir.path()), written,
      [&](FakeCore& fake) {
        fake.route_error = absl::NotFoundError("example.com: no such domain");
        fake.on_deliver = [](DeliveryAttempt&) { ADD_FAILURE() << "a connection to nowhere"; };
      },
      [&](FakeCore&, QueueService& queue) {
        return queue.queued_recipients() == 0 && queue.flushes_running() == 0;
      },
      [&](FakeCore& fake, QueueService&) {
        EXPECT_TRUE(fake.attempts.empty());
        EXPECT_EQ(fake.stored.size(), recipients.size());
        const auto completions = CompletionsByRecipient(fake);
        EXPECT_EQ(completions.size(), 2 * recipients.size());
        for (const auto& [key, outcomes] : completions) {
          ASSERT_EQ(outcomes.size(), 1u);
          EXPECT_EQ(outcomes[0], spool::RecipientOutcome::kBounced);
        }
      });
}

// A connection that reports one recipient's outcome twice breaks the flush
// job's books: the process dies at the check instead of finishing twice.
TEST(FlushJobDeathTest, SecondOutcomeForOneRecipientCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  spool::testing::TempDir dir;
  const std::vector<Written> written = WriteMessages(dir.path(), {{"ok@example.com"}});
  EXPECT_DEATH(RunQueue(
                   TestOptions(dir.path()), written,
                   [&](FakeCore& fake) {
                     fake.targets = Targets(1);
                     fake.on_deliver = [&fake](DeliveryAttempt& attempt) {
                       smtp::RecipientOutcome twice =
                           Outcome(RecipientOutcome::kDelivered, "250 ok");
                       twice.token = attempt.messages[0].token;
                       fake.reactor().Post([&attempt, twice] {
                         attempt.outcomes(twice);
                         attempt.outcomes(twice);
                         attempt.finished();
                       });
                     };
                   },
                   [](FakeCore&, QueueService&) { return false; }, [](FakeCore&, QueueService&) {}),
               "check failed");
}

}  // namespace
}  // namespace etrnd::qmgr

// ConnectGate on a real Reactor: connects in flight are bounded, waiting
// attempts start in order as slots free, an address that just failed is not
// connected to again (its recipients are deferred at connection level), and
// every attempt ends exactly once.
#include "connect_gate.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"
#include "qmgr_test_harness.h"

namespace etrnd::qmgr {
namespace {

struct Ended {
  int finished = 0;
  std::vector<smtp::RecipientOutcome> outcomes;
};

DeliveryAttempt MakeAttempt(const std::string& target, int recipients, Ended* ended) {
  DeliveryAttempt attempt;
  attempt.target = *SocketAddress::Parse(target);
  smtp::OutboundMessage message;
  message.token = 7;
  message.mail_from = "a@example.org";
  for (int i = 0; i < recipients; ++i)
    message.recipients.push_back(absl::StrCat("r", i, "@x.test"));
  attempt.messages.push_back(std::move(message));
  attempt.outcomes = [ended](const smtp::RecipientOutcome& outcome) {
    ended->outcomes.push_back(outcome);
  };
  attempt.finished = [ended] { ++ended->finished; };
  return attempt;
}

constexpr int kTicksMax = 20000;  // how long a test waits, in one-millisecond ticks

// What the "network" does with one connect.
enum class Peer { kRefuse, kAccept, kHold };

using Connects = std::vector<std::unique_ptr<DeliveryAttempt>>;
using Step = std::function<void(ConnectGate&, Connects&)>;

// On a reactor with a gate whose connects `peer` decides (`connects` gets
// every attempt that reached the network): runs `start`, then the loop
// until `done` says so (checked every millisecond), then `finish`.
void WithGate(const std::function<Peer(const DeliveryAttempt&)>& peer, const Step& start,
              const std::function<bool(ConnectGate&)>& done, const Step& finish) {
  auto created = reactor::Reactor::Create(0, reactor::ReactorOptions{});
  ASSERT_TRUE(created.ok());
  reactor::Reactor& r = **created;
  Connects connects;
  ConnectGate gate(r, [&](DeliveryAttempt attempt) {
    connects.push_back(std::make_unique<DeliveryAttempt>(std::move(attempt)));
    DeliveryAttempt& a = *connects.back();
    switch (peer(a)) {
      case Peer::kRefuse:
        r.Post([&a] {
          for (size_t i = 0; i < a.messages[0].recipients.size(); ++i) {
            smtp::RecipientOutcome outcome;
            outcome.token = a.messages[0].token;
            outcome.recipient_index = i;
            outcome.reply = "connection lost while waiting for the greeting";
            outcome.connection_level = true;
            a.outcomes(outcome);
          }
          a.finished();
        });
        break;
      case Peer::kAccept:
        r.Post([&a] { a.connected(); });
        break;
      case Peer::kHold:
        break;
    }
  });
  r.Post([&] {
    start(gate, connects);
    testing::PollEveryMillisecond(
        r, kTicksMax, "never got where the test waits for", [&] { return done(gate); },
        [&] {
          finish(gate, connects);
          r.Stop();
        });
  });
  r.Run();
}

size_t Finished(const std::vector<Ended>& ended) {
  size_t done = 0;
  for (const Ended& e : ended) done += e.finished;
  return done;
}

TEST(ConnectGateTest, BoundsConnectsInFlightAndStartsWaitersInOrder) {
  constexpr size_t kAttempts = 3 * kConnectsInFlightMax + 5;
  std::vector<Ended> ended(kAttempts);
  size_t most_connecting = 0;
  WithGate(
      [](const DeliveryAttempt&) { return Peer::kHold; },
      [&](ConnectGate& gate, Connects& connects) {
        for (size_t i = 0; i < kAttempts; ++i) {
          gate.Deliver(MakeAttempt(absl::StrCat("192.0.2.", i % 200 + 1, ":25"), 1, &ended[i]));
        }
        EXPECT_EQ(connects.size(), kConnectsInFlightMax);
        EXPECT_EQ(gate.connecting(), kConnectsInFlightMax);
        EXPECT_EQ(gate.waiting(), kAttempts - kConnectsInFlightMax);
        // A connect answered frees its slot at once: the next in line goes.
        connects[0]->connected();
        ASSERT_EQ(connects.size(), kConnectsInFlightMax + 1);
        EXPECT_EQ(connects.back()->target.ToString(),
                  absl::StrCat("192.0.2.", kConnectsInFlightMax + 1, ":25"));
        connects[0]->finished();
        EXPECT_EQ(gate.connecting(), kConnectsInFlightMax) << "finishing does not free twice";
        // The rest connect as the held ones come up, never more at once.
        for (size_t i = 1; i < connects.size(); ++i) {
          connects[i]->connected();
          most_connecting = std::max(most_connecting, gate.connecting());
        }
        EXPECT_EQ(connects.size(), kAttempts);
        for (size_t i = 1; i < connects.size(); ++i) connects[i]->finished();
      },
      [](ConnectGate& gate) { return gate.waiting() == 0; },
      [](ConnectGate& gate, Connects&) { EXPECT_EQ(gate.connecting(), 0u); });
  EXPECT_LE(most_connecting, kConnectsInFlightMax);
  for (size_t i = 0; i < kAttempts; ++i) EXPECT_EQ(ended[i].finished, 1) << i;
}

TEST(ConnectGateTest, AnAddressThatRefusedIsNotTriedAgainForAWhile) {
  constexpr size_t kAttempts = 10 * kConnectsInFlightMax;
  std::vector<Ended> ended(kAttempts);
  Ended other;
  size_t connected_to_dead = 0;
  WithGate([](const DeliveryAttempt&) { return Peer::kRefuse; },
           [&](ConnectGate& gate, Connects&) {
             for (size_t i = 0; i < kAttempts; ++i) {
               gate.Deliver(MakeAttempt("127.0.0.1:9", 3, &ended[i]));
             }
           },
           [&](ConnectGate&) { return Finished(ended) == kAttempts; },
           [&](ConnectGate& gate, Connects& connects) {
             // Only those in flight when the first refusal came back connected.
             connected_to_dead = connects.size();
             EXPECT_EQ(gate.connecting(), 0u);
             EXPECT_EQ(gate.skipped(), kAttempts - kConnectsInFlightMax);
             // Another address is tried all the same.
             gate.Deliver(MakeAttempt("127.0.0.1:25", 1, &other));
             EXPECT_EQ(connects.size(), connected_to_dead + 1);
           });
  EXPECT_EQ(connected_to_dead, kConnectsInFlightMax);
  for (size_t i = 0; i < kAttempts; ++i) {
    ASSERT_EQ(ended[i].finished, 1) << i;
    ASSERT_EQ(ended[i].outcomes.size(), 3u) << "every recipient gets its deferral";
    for (size_t k = 0; k < 3; ++k) {
      const smtp::RecipientOutcome& outcome = ended[i].outcomes[k];
      EXPECT_EQ(outcome.kind, smtp::RecipientOutcome::kDeferred);
      EXPECT_TRUE(outcome.connection_level);
      EXPECT_EQ(outcome.token, 7u);
      EXPECT_EQ(outcome.recipient_index, k);
    }
    if (i >= kConnectsInFlightMax) {
      EXPECT_TRUE(absl::StrContains(ended[i].outcomes[0].reply, "not tried: 127.0.0.1:9 failed"))
          << ended[i].outcomes[0].reply;
      EXPECT_TRUE(absl::StrContains(ended[i].outcomes[0].reply, "waiting for the greeting"))
          << ended[i].outcomes[0].reply;
    }
  }
}

// A customer's own ETRN for its domain says its host is up now: that
// attempt connects even though the address refused a moment ago.
TEST(ConnectGateTest, AnAttemptAskedForByNameRetriesADeadAddress) {
  Ended first, skipped, named;
  size_t connects_before = 0, connects_after = 0;
  WithGate(
      [](const DeliveryAttempt&) { return Peer::kRefuse; },
      [&](ConnectGate& gate, Connects&) { gate.Deliver(MakeAttempt("127.0.0.1:9", 1, &first)); },
      [&](ConnectGate&) { return first.finished == 1; },
      [&](ConnectGate& gate, Connects& connects) {
        connects_before = connects.size();
        gate.Deliver(MakeAttempt("127.0.0.1:9", 1, &skipped));
        DeliveryAttempt asked = MakeAttempt("127.0.0.1:9", 1, &named);
        asked.retry_dead_target = true;
        gate.Deliver(std::move(asked));
        connects_after = connects.size();
      });
  EXPECT_EQ(connects_before, 1u);
  EXPECT_EQ(connects_after, 2u) << "only the attempt asked for by name connects";
  EXPECT_EQ(skipped.finished, 1);
  ASSERT_EQ(skipped.outcomes.size(), 1u);
  EXPECT_TRUE(absl::StrContains(skipped.outcomes[0].reply, "not tried"));
}

TEST(ConnectGateTest, StopDefersWhatWaitsAndStartsNothingMore) {
  constexpr size_t kAttempts = kConnectsInFlightMax + 10;
  std::vector<Ended> ended(kAttempts + 1);
  WithGate([](const DeliveryAttempt&) { return Peer::kHold; },
           [&](ConnectGate& gate, Connects& connects) {
             for (size_t i = 0; i < kAttempts; ++i) {
               gate.Deliver(MakeAttempt("192.0.2.1:25", 1, &ended[i]));
             }
             gate.Stop();
             EXPECT_EQ(gate.waiting(), 0u);
             gate.Deliver(MakeAttempt("192.0.2.2:25", 1, &ended[kAttempts]));
             connects[0]->connected();
             EXPECT_EQ(connects.size(), kConnectsInFlightMax) << "nothing starts after Stop";
             for (auto& c : connects) c->finished();
           },
           [&](ConnectGate&) { return Finished(ended) == kAttempts + 1; },
           [](ConnectGate&, Connects&) {});
  for (size_t i = 0; i < kAttempts + 1; ++i) {
    EXPECT_EQ(ended[i].finished, 1) << i;
    if (i >= kConnectsInFlightMax) {
      ASSERT_EQ(ended[i].outcomes.size(), 1u);
      EXPECT_TRUE(absl::StrContains(ended[i].outcomes[0].reply, "shutting down"));
    }
  }
}

}  // namespace
}  // namespace etrnd::qmgr

// Many failing flushes at once, against a fake core: one `ETRN @parent.test`
// over more held subdomains than kFlushesRunningMax, whose next hop never
// connects. The walk stops exactly at kFlushesRunningMax, at most
// kConnectsInFlightMax connects are in flight, and once the next hop has
// refused, the other jobs defer without connecting; every domain still gets
// its attempt, its deferral and its place in the retry schedule.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connect_gate.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/qmgr/queue_service.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "qmgr_test_harness.h"
#include "queue_service_internal.h"
#include "spool_writer.h"
#include "temp_dir.h"

namespace etrnd::qmgr {
namespace {

using queue_detail::kFlushesRunningMax;
using testing::FakeCore;
using testing::QueueOnReactor;
using testing::WrittenMessage;

constexpr size_t kDomains = kFlushesRunningMax + 300;
constexpr int kTicksMax = 60000;  // how long the storm may take, in one-millisecond ticks

std::string Subdomain(size_t i) { return absl::StrFormat("c%05d.parent.test", i); }

// One message for each subdomain, in core 0's segments.
std::vector<WrittenMessage> WriteOneMessagePerSubdomain(const std::string& dir) {
  std::vector<std::vector<std::string>> recipients;
  for (size_t i = 0; i < kDomains; ++i) recipients.push_back({absl::StrCat("u@", Subdomain(i))});
  return testing::WriteMessages(dir, recipients);
}

TEST(FailingFlushesTest, EtrnWalkStopsAtTheBoundAndADeadNextHopIsTriedOnce) {
  spool::testing::TempDir dir;
  const std::vector<WrittenMessage> written = WriteOneMessagePerSubdomain(dir.path());

  size_t most_running = 0, most_connecting = 0, connects_before_refusal = 0;
  size_t etrn_messages = 0;
  std::vector<int> attempts(kDomains, -1);
  std::vector<std::string> errors(kDomains), states(kDomains);
  enum class Phase { kWalking, kRefusing, kDone } phase = Phase::kWalking;
  int quiet_ticks = 0;
  size_t last_running = 0;
  // Looked at once a millisecond: the walk until it waits at the bound,
  // then every connect refused, then every domain scheduled again.
  auto storm_is_over = [&](FakeCore& fake, QueueService& queue) {
    most_running = std::max(most_running, queue.flushes_running());
    most_connecting = std::max(most_connecting, queue.connect_gate().connecting());
    if (phase == Phase::kWalking) {
      // The walk waits at the bound: nothing finishes while no connect
      // is answered.
      quiet_ticks = queue.flushes_running() == last_running ? quiet_ticks + 1 : 0;
      last_running = queue.flushes_running();
      if (quiet_ticks > 100) {
        connects_before_refusal = fake.attempts.size();
        phase = Phase::kRefusing;
        for (auto& attempt : fake.attempts) {
          fake.Answer(*attempt, [](const std::string&) {
            return testing::Outcome(smtp::RecipientOutcome::kDeferred,
                                    "connection lost while waiting for the greeting",
                                    /*connection_level=*/true);
          });
        }
      }
    } else if (phase == Phase::kRefusing && queue.flushes_running() == 0) {
      bool all = true;
      for (size_t i = 0; i < kDomains && all; ++i) {
        std::optional<int64_t> next;
        int n = 0;
        queue.DescribeSchedule(Subdomain(i), &states[i], &next, &n, &errors[i]);
        attempts[i] = n;
        all = n > 0;
      }
      if (all) phase = Phase::kDone;
    }
    return phase == Phase::kDone;
  };
  // ETRN @parent.test once every message is queued: counted first, then
  // flushed, then watched until the storm is over.
  auto etrn_storm = [&](QueueOnReactor& core) {
    testing::QueueWritten(core.queue, written);
    core.reactor.RunAfter(absl::Milliseconds(50), [&] {
      const IpAddress client = *IpAddress::Parse("192.0.2.99");
      etrn::EtrnPlan plan = etrn::PlanEtrn(core.fake.table(), "@parent.test", client);
      ASSERT_FALSE(plan.reply.has_value()) << *plan.reply;
      // Counting (while the client's bucket is asked elsewhere) starts
      // nothing; the flush, once allowed, answers the same count.
      const EtrnShardResult counted = core.queue.CountForEtrn(plan, client, true);
      EXPECT_TRUE(counted.starts);
      core.reactor.RunAfter(absl::Milliseconds(20), [&, plan, client, counted] {
        EXPECT_EQ(core.queue.flushes_running(), 0u) << "CountForEtrn started a flush";
        EXPECT_TRUE(core.fake.attempts.empty());
        EtrnShardResult result = core.queue.FlushForEtrn(plan, client, /*operator_request=*/true);
        EXPECT_FALSE(result.refused_for_resources);
        EXPECT_EQ(result.messages, counted.messages);
        etrn_messages = result.messages;
        testing::PollEveryMillisecond(
            core.reactor, kTicksMax, "the storm never ended",
            [&] { return storm_is_over(core.fake, core.queue); }, [&] { core.Stop(); });
      });
    });
  };
  auto next_hop_down = [](FakeCore& fake) {
    fake.targets = {{*SocketAddress::Parse("192.0.2.1:25"), "192.0.2.1"}};
    fake.connects = false;                      // the next hop is down ...
    fake.on_deliver = [](DeliveryAttempt&) {};  // ... and answers only when told
  };
  testing::RunQueueOnReactorThread(
      testing::BaseQueueOptions(dir.path()),
      "parent.test 192.0.2.1:25 hold\n.parent.test 192.0.2.1:25 hold\n", next_hop_down, etrn_storm);

  EXPECT_EQ(etrn_messages, kDomains);
  EXPECT_EQ(most_running, kFlushesRunningMax) << "the walk stops exactly at the bound";
  EXPECT_EQ(most_connecting, kConnectsInFlightMax);
  EXPECT_EQ(connects_before_refusal, kConnectsInFlightMax);
  for (size_t i = 0; i < kDomains; ++i) {
    EXPECT_EQ(attempts[i], 1) << Subdomain(i);
    EXPECT_EQ(states[i], "etrn") << Subdomain(i);  // held: waits for the next ETRN
    EXPECT_NE(errors[i].find("waiting for the greeting"), std::string::npos)
        << Subdomain(i) << ": " << errors[i];
  }
}

}  // namespace
}  // namespace etrnd::qmgr

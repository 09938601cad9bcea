// Many failing flushes at once, against a fake core: one `ETRN @parent.test`
// over more held subdomains than kFlushesRunningMax, whose next hop never
// connects. The walk stops exactly at kFlushesRunningMax, at most
// kConnectsInFlightMax connects are in flight, and once the next hop has
// refused, the other jobs defer without connecting; every domain still gets
// its attempt, its deferral and its place in the retry schedule.
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "connect_gate.h"
#include "etrnd/common/log.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/segment_appender.h"
#include "fake_core.h"
#include "gtest/gtest.h"
#include "queue_service_internal.h"
#include "temp_dir.h"

namespace etrnd::qmgr {
namespace {

using queue_detail::kFlushesRunningMax;
using testing::FakeCore;

constexpr size_t kDomains = kFlushesRunningMax + 300;

std::string Subdomain(size_t i) { return absl::StrFormat("c%05d.parent.test", i); }

struct Written {
  spool::RecordLocation location;
  spool::SpoolMessage envelope;
};

// One message for each subdomain, written in one batch to core 0's segment.
std::vector<Written> WriteSpool(const std::string& dir) {
  spool::AppenderOptions options;
  options.spool_dir = dir;
  options.core = 0;
  auto appender = spool::SegmentAppender::Open(options);
  EXPECT_TRUE(appender.ok()) << appender.status();
  std::vector<Written> written;
  for (size_t i = 0; i < kDomains; ++i) {
    spool::SpoolMessage message;
    message.queue_id = absl::StrCat("Q", i);
    message.arrival_unix_micros = absl::ToUnixMicros(absl::Now());
    message.mail_from = "sender@example.org";
    message.recipients = {absl::StrCat("u@", Subdomain(i))};
    message.data = "Subject: x\r\n\r\nbody\r\n";
    auto location = (*appender)->Append(message);
    EXPECT_TRUE(location.ok());
    message.data.clear();
    written.push_back(Written{*location, std::move(message)});
  }
  while (auto batch = (*appender)->TakeBatch()) {
    EXPECT_EQ(::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                       static_cast<off_t>(batch->offset)),
              static_cast<ssize_t>(batch->bytes.size()));
    (*appender)->BatchDurable(*batch);
  }
  return written;
}

TEST(FailingFlushesTest, EtrnWalkStopsAtTheBoundAndADeadNextHopIsTriedOnce) {
  SetLogLevel(LogLevel::kWarning);
  spool::testing::TempDir dir;
  const std::vector<Written> written = WriteSpool(dir.path());
  QueueOptions options;
  options.spool_dir = dir.path();
  options.hostname = "mx.test";
  options.postmaster = "postmaster@mx.test";
  auto table = config::DomainsTable::Parse(
      "parent.test 192.0.2.1:25 hold\n.parent.test 192.0.2.1:25 hold\n", "test");
  ASSERT_TRUE(table.ok()) << table.status();

  size_t most_running = 0, most_connecting = 0, connects_before_refusal = 0;
  size_t etrn_messages = 0;
  std::vector<int> attempts(kDomains, -1);
  std::vector<std::string> errors(kDomains), states(kDomains);
  std::thread thread([&] {
    std::unique_ptr<FakeCore> fake;
    std::unique_ptr<QueueService> queue;
    auto created = reactor::Reactor::Create(0, reactor::ReactorOptions{});
    ASSERT_TRUE(created.ok());
    reactor::Reactor& r = **created;
    fake = std::make_unique<FakeCore>(r, options, *table);
    fake->targets = {{*SocketAddress::Parse("192.0.2.1:25"), "192.0.2.1"}};
    fake->connects = false;                      // the next hop is down ...
    fake->on_deliver = [](DeliveryAttempt&) {};  // ... and answers only when told
    queue = std::make_unique<QueueService>(*fake);
    fake->queue = queue.get();
    enum class Phase { kWalking, kRefusing, kDone } phase = Phase::kWalking;
    int ticks = 0, quiet_ticks = 0;
    size_t last_running = 0;
    std::function<void()> tick = [&] {
      ++ticks;
      most_running = std::max(most_running, queue->flushes_running());
      most_connecting = std::max(most_connecting, queue->connect_gate().connecting());
      if (phase == Phase::kWalking) {
        // The walk waits at the bound: nothing finishes while no connect
        // is answered.
        quiet_ticks = queue->flushes_running() == last_running ? quiet_ticks + 1 : 0;
        last_running = queue->flushes_running();
        if (quiet_ticks > 100) {
          connects_before_refusal = fake->attempts.size();
          phase = Phase::kRefusing;
          for (auto& attempt : fake->attempts) {
            fake->Answer(*attempt, [](const std::string&) {
              return testing::Outcome(smtp::RecipientOutcome::kDeferred,
                                      "connection lost while waiting for the greeting",
                                      /*connection_level=*/true);
            });
          }
        }
      } else if (phase == Phase::kRefusing && queue->flushes_running() == 0) {
        bool all = true;
        for (size_t i = 0; i < kDomains && all; ++i) {
          std::optional<int64_t> next;
          int n = 0;
          queue->DescribeSchedule(Subdomain(i), &states[i], &next, &n, &errors[i]);
          attempts[i] = n;
          all = n > 0;
        }
        if (all) phase = Phase::kDone;
      }
      if (phase == Phase::kDone || ticks > 60000) {
        EXPECT_LE(ticks, 60000) << "the storm never ended";
        queue->Stop();
        r.Stop();
        return;
      }
      r.RunAfter(absl::Milliseconds(1), tick);
    };
    r.Post([&] {
      for (const Written& w : written) queue->OnMessageDurable(w.location, w.envelope);
      r.RunAfter(absl::Milliseconds(50), [&] {
        const IpAddress client = *IpAddress::Parse("192.0.2.99");
        etrn::EtrnPlan plan = etrn::PlanEtrn(fake->table(), "@parent.test", client);
        ASSERT_FALSE(plan.reply.has_value()) << *plan.reply;
        // Counting (while the client's bucket is asked elsewhere) starts
        // nothing; the flush, once allowed, answers the same count.
        const EtrnShardResult counted = queue->CountForEtrn(plan, client, true);
        EXPECT_TRUE(counted.starts);
        r.RunAfter(absl::Milliseconds(20), [&, plan, client, counted] {
          EXPECT_EQ(queue->flushes_running(), 0u) << "CountForEtrn started a flush";
          EXPECT_TRUE(fake->attempts.empty());
          EtrnShardResult result = queue->FlushForEtrn(plan, client, /*operator_request=*/true);
          EXPECT_FALSE(result.refused_for_resources);
          EXPECT_EQ(result.messages, counted.messages);
          etrn_messages = result.messages;
          tick();
        });
      });
    });
    r.Run();
  });
  thread.join();

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

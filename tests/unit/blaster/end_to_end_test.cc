// Client and sink runners over real loopback sockets and reactors: what the
// client counts as accepted is exactly what the sink counted. No timing
// asserts: only counts.
#include <atomic>
#include <future>
#include <thread>

#include "etrnd/blaster/client_runner.h"
#include "etrnd/blaster/domain_picker.h"
#include "etrnd/blaster/sink_runner.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

class EndToEndTest : public ::testing::Test {
 protected:
  // Starts a sink on 127.0.0.1:0; returns its address.
  SocketAddress StartSink(SinkOptions options) {
    options.listen = SocketAddress::Parse("127.0.0.1:0").value();
    options.progress = false;
    std::promise<SocketAddress> bound;
    std::future<SocketAddress> bound_future = bound.get_future();
    options.on_listening = [&bound](const SocketAddress& address) { bound.set_value(address); };
    sink_options_ = options;
    sink_thread_ = std::thread([this] { sink_result_ = RunSink(sink_options_, &stop_sink_); });
    return bound_future.get();
  }
  SinkStats StopSink() {
    stop_sink_ = true;
    sink_thread_.join();
    EXPECT_TRUE(sink_result_.ok()) << sink_result_.status();
    return sink_result_.ok() ? sink_result_->stats : SinkStats();
  }
  ClientOptions Client(const SocketAddress& target) {
    ClientOptions options;
    options.target = target;
    options.domains = &domains_;
    options.progress = false;
    options.message_bytes = 2000;
    options.seed = 7;
    return options;
  }

  DomainPicker domains_ = DomainPicker::Create("d%d.test", 4, 0).value();
  SinkOptions sink_options_;
  std::atomic<bool> stop_sink_{false};
  std::thread sink_thread_;
  absl::StatusOr<SinkRunResult> sink_result_ = absl::UnknownError("not run");
};

TEST_F(EndToEndTest, ClosedLoopPipelinedTwoThreads) {
  ClientOptions client = Client(StartSink({}));
  client.connections = 6;
  client.threads = 2;
  client.messages = 600;
  client.recipients = 2;
  client.etrn_every = 100;
  absl::StatusOr<ClientRunResult> result = RunClient(client, nullptr);
  const SinkStats sink = StopSink();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.messages_ok, 600u);
  EXPECT_EQ(result->stats.messages_failed, 0u);
  EXPECT_EQ(result->stats.latency_us.count(), 600u);
  EXPECT_EQ(result->stats.etrn_ok, 6u);  // the sink answers 251
  EXPECT_TRUE(result->stats.errors.empty());
  EXPECT_EQ(sink.messages, 600u);
  EXPECT_EQ(sink.bytes, 600u * 2000u);
  EXPECT_EQ(sink.connections, 8u);  // 6 senders + one ETRN session per thread
}

TEST_F(EndToEndTest, UnpipelinedWithRefusals) {
  SinkOptions sink_options;
  sink_options.session.rcpt_fail_code = 550;
  sink_options.fail_fraction = 0.5;
  ClientOptions client = Client(StartSink(sink_options));
  client.connections = 1;  // one session: the sink's refusal schedule is exact
  client.messages = 100;
  client.pipelining = false;
  absl::StatusOr<ClientRunResult> result = RunClient(client, nullptr);
  const SinkStats sink = StopSink();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.messages_ok, 50u);
  EXPECT_EQ(result->stats.messages_failed, 50u);
  EXPECT_EQ(result->stats.errors.at("550"), 50u);
  EXPECT_EQ(sink.messages, 50u);
}

TEST_F(EndToEndTest, OpenLoopSendsExactlyTheScheduledMessages) {
  ClientOptions client = Client(StartSink({}));
  client.connections = 4;
  client.threads = 2;
  client.messages = 200;
  client.rate = 2000;
  absl::StatusOr<ClientRunResult> result = RunClient(client, nullptr);
  const SinkStats sink = StopSink();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.messages_ok + result->stats.messages_failed, 200u);
  EXPECT_EQ(sink.messages, result->stats.messages_ok);
  EXPECT_EQ(result->stats.messages_ok, 200u);
}

TEST_F(EndToEndTest, RefusedConnectionsAreCountedAndTheRunEnds) {
  // Take a free port, then close the sink so nothing listens there.
  const SocketAddress address = StartSink({});
  StopSink();
  ClientOptions client = Client(address);
  client.connections = 2;
  client.messages = 10;
  absl::StatusOr<ClientRunResult> result = RunClient(client, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.messages_ok, 0u);
  EXPECT_EQ(result->stats.errors.at("connect"),
            2u * static_cast<uint64_t>(ClientWorker::kMaxConsecutiveFailures));
}

}  // namespace
}  // namespace etrnd::blaster

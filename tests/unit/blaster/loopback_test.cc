// The client and sink state machines wired back to back in memory: what the
// client counts as delivered must be exactly what the sink received, byte
// for byte, with and without pipelining and with refusals.
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "etrnd/blaster/client_session.h"
#include "etrnd/blaster/domain_picker.h"
#include "etrnd/blaster/fail_schedule.h"
#include "etrnd/blaster/message_generator.h"
#include "etrnd/blaster/sink_session.h"
#include "etrnd/blaster/stats.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

struct LoopbackResult {
  ClientStats client;
  SinkStats sink;
  std::vector<std::string> sent_contents;      // of messages the client saw accepted
  std::vector<std::string> received_contents;  // as the sink stored them
};

// Runs `messages` messages through one session; the client's bytes reach
// the sink in chunks of chunk_bytes (to split commands and data anywhere).
LoopbackResult RunLoopback(bool pipelining, int messages, int recipients, size_t chunk_bytes,
                           SinkSessionConfig sink_config, double fail_fraction) {
  sink_config.keep_content = true;
  FailSchedule rcpt_failures(fail_fraction), data_failures(fail_fraction);
  SinkSession sink(sink_config, &rcpt_failures, &data_failures);
  ClientSession client(ClientSessionConfig{"c.test", pipelining});
  MessageGenerator generator(1, 0, 3);
  DomainPicker domains = DomainPicker::Create("d%d.test", 5, 0).value();
  std::mt19937_64 rng(4);
  LoopbackResult result;
  std::vector<ReceivedMessage> accepted;
  std::string pending_content;

  ClientActions actions;
  client.OnReceive(sink.Greeting(), &actions);
  int started = 0;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    for (const TransactionResult& done : actions.results) {
      result.client.Count(done, pending_content.size(), 1);
      if (done.ok) result.sent_contents.push_back(pending_content);
    }
    std::string to_sink;
    for (const std::string& chunk : actions.sends) to_sink += chunk;
    const bool ready = actions.ready;
    actions.Clear();
    if (ready) {
      EXPECT_TRUE(to_sink.empty()) << "an idle session has nothing in flight";
      if (started == messages) {
        client.Quit(&actions);
      } else {
        ++started;
        std::vector<std::string> rcpts;
        for (int r = 0; r < recipients; ++r) {
          rcpts.push_back("u" + std::to_string(r) + "@" + domains.Pick(rng));
        }
        pending_content = generator.Generate({"s@blaster.test", rcpts}, 700 + started * 37);
        client.StartMessage("s@blaster.test", rcpts, pending_content, &actions);
      }
      continue;
    }
    if (to_sink.empty()) break;
    std::string replies;
    for (size_t at = 0; at < to_sink.size(); at += chunk_bytes) {
      sink.OnReceive(std::string_view(to_sink).substr(at, chunk_bytes), &replies, &accepted);
    }
    client.OnReceive(replies, &actions);
  }
  for (const ReceivedMessage& message : accepted) {
    result.sink.Count(message);
    result.received_contents.push_back(message.content);
  }
  return result;
}

TEST(LoopbackTest, PipelinedCountsAndBytesAgree) {
  LoopbackResult r = RunLoopback(true, 50, 2, 1 << 20, {}, 0);
  EXPECT_EQ(r.client.messages_ok, 50u);
  EXPECT_EQ(r.client.messages_failed, 0u);
  EXPECT_EQ(r.sink.messages, 50u);
  EXPECT_EQ(r.sink.bytes, r.client.bytes_ok);
  EXPECT_EQ(r.received_contents, r.sent_contents);
}

TEST(LoopbackTest, UnpipelinedTinyChunksAgree) {
  LoopbackResult r = RunLoopback(false, 20, 3, 7, {}, 0);
  EXPECT_EQ(r.client.messages_ok, 20u);
  EXPECT_EQ(r.sink.messages, 20u);
  EXPECT_EQ(r.received_contents, r.sent_contents);
}

TEST(LoopbackTest, RcptRefusalsCountedOnBothSides) {
  SinkSessionConfig config;
  config.rcpt_fail_code = 550;
  LoopbackResult r = RunLoopback(true, 40, 1, 1 << 20, config, 0.5);
  EXPECT_EQ(r.client.messages_ok, 20u);
  EXPECT_EQ(r.client.messages_failed, 20u);
  EXPECT_EQ(r.client.errors.at("550"), 20u);
  EXPECT_EQ(r.sink.messages, r.client.messages_ok);
  EXPECT_EQ(r.received_contents, r.sent_contents);
}

TEST(LoopbackTest, DataRefusalsCountedOnBothSides) {
  SinkSessionConfig config;
  config.data_fail_code = 554;
  LoopbackResult r = RunLoopback(false, 30, 2, 13, config, 1.0 / 3);
  EXPECT_EQ(r.client.messages_ok, 20u);
  EXPECT_EQ(r.client.messages_failed, 10u);
  EXPECT_EQ(r.client.errors.at("554"), 10u);
  EXPECT_EQ(r.sink.messages, 20u);
  uint64_t per_domain_messages = 0;
  for (const auto& [domain, counts] : r.sink.per_domain) per_domain_messages += counts.messages;
  EXPECT_GE(per_domain_messages, r.sink.messages);  // a message counts once per domain
}

}  // namespace
}  // namespace etrnd::blaster

#include "etrnd/qmgr/recovery_handoff.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "etrnd/queue/domain_queue_index.h"
#include "gtest/gtest.h"

namespace etrnd::qmgr {
namespace {

using spool::RecoveredMessage;
using spool::RecoveredRecipient;
using spool::RecoveryResult;

// Records every visit as a line, in order.
class Recorder : public RecoveryHandOffVisitor {
 public:
  void DomainBegin(uint32_t, const std::string& domain) override { Add("begin " + domain); }
  void Recipients(const RecoveredMessage& message, std::vector<uint32_t> indexes) override {
    std::string line = "rcpts " + std::to_string(message.location.offset);
    for (uint32_t i : indexes) line += " " + std::to_string(i);
    Add(line);
  }
  void DomainEnd() override { Add("end"); }
  void Message(const RecoveredMessage& message) override {
    Add("message " + std::to_string(message.location.offset));
  }
  void Arrival(uint32_t domain_id, const RecoveredMessage& message) override {
    Add("arrival " + std::to_string(domain_id) + " " + std::to_string(message.location.offset));
  }
  std::vector<std::string> lines;

 private:
  void Add(std::string line) { lines.push_back(std::move(line)); }
};

// Messages at offsets 0, 1, ...; each a list of (domain id, finished).
RecoveryResult MakeResult(std::vector<std::string> domains,
                          std::vector<std::vector<std::pair<uint32_t, bool>>> messages) {
  RecoveryResult result;
  result.domains = std::move(domains);
  for (size_t m = 0; m < messages.size(); ++m) {
    RecoveredMessage message;
    message.location.offset = m;
    message.first_recipient = result.recipients.size();
    message.recipient_count = static_cast<uint32_t>(messages[m].size());
    for (auto [domain, finished] : messages[m]) {
      result.recipients.push_back(RecoveredRecipient{domain, finished});
      message.live_recipients += !finished;
    }
    result.messages.push_back(message);
  }
  return result;
}

TEST(RecoveryHandOffTest, GroupsByDomainThenWalksArrivalOrder) {
  // One shard: every domain is owned here.
  const RecoveryResult result =
      MakeResult({"a.test", "b.test", "c.test"},
                 {{{1, false}}, {{0, false}, {1, false}, {0, false}}, {{1, true}}, {{0, false}}});
  RecoveryHandOff hand_off(result, 1, 0);
  Recorder recorder;
  EXPECT_FALSE(hand_off.NextSlice(recorder));
  EXPECT_EQ(recorder.lines,
            (std::vector<std::string>{"begin a.test", "rcpts 1 0 2", "rcpts 3 0", "end",
                                      "begin b.test", "rcpts 0 0", "rcpts 1 1", "end",
                                      // c.test holds nothing; message 2 is finished.
                                      "message 0", "arrival 1 0", "message 1", "arrival 0 1",
                                      "arrival 1 1", "message 2", "message 3", "arrival 0 3"}));
}

TEST(RecoveryHandOffTest, EachShardTakesOnlyItsDomains) {
  std::vector<std::string> domains;
  std::vector<std::vector<std::pair<uint32_t, bool>>> messages;
  for (uint32_t d = 0; d < 64; ++d) {
    domains.push_back("d" + std::to_string(d) + ".test");
    messages.push_back({{d, false}});
  }
  const RecoveryResult result = MakeResult(domains, messages);
  size_t begins = 0;
  for (size_t shard = 0; shard < 2; ++shard) {
    RecoveryHandOff hand_off(result, 2, shard);
    Recorder recorder;
    while (hand_off.NextSlice(recorder)) {
    }
    for (const std::string& line : recorder.lines) {
      if (!line.starts_with("begin ")) continue;
      ++begins;
      EXPECT_EQ(queue::ShardForDomain(line.substr(6), 2), shard) << line;
    }
  }
  EXPECT_EQ(begins, 64u);
}

TEST(RecoveryHandOffTest, SlicesAreBoundedAndResumeInsideADomain) {
  const size_t count = 2 * kRecoveryHandOffSlice + 10;
  std::vector<std::vector<std::pair<uint32_t, bool>>> messages(count, {{0, false}});
  const RecoveryResult result = MakeResult({"big.test"}, messages);
  RecoveryHandOff hand_off(result, 1, 0);
  Recorder recorder;
  size_t slices = 0;
  size_t before = 0;
  bool more = true;
  while (more) {
    more = hand_off.NextSlice(recorder);
    ++slices;
    size_t visited = 0;
    for (size_t i = before; i < recorder.lines.size(); ++i) {
      visited += recorder.lines[i].starts_with("rcpts") || recorder.lines[i].starts_with("message");
    }
    EXPECT_LE(visited, kRecoveryHandOffSlice);
    before = recorder.lines.size();
  }
  // count pairs in the first pass, count messages in the second.
  EXPECT_EQ(slices, (2 * count + kRecoveryHandOffSlice - 1) / kRecoveryHandOffSlice);
  EXPECT_EQ(std::count(recorder.lines.begin(), recorder.lines.end(), "begin big.test"), 1);
  EXPECT_EQ(std::count(recorder.lines.begin(), recorder.lines.end(), "end"), 1);
  EXPECT_EQ(recorder.lines[count + 1], "end");
}

}  // namespace
}  // namespace etrnd::qmgr

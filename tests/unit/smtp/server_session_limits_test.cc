// The server session's bounds against hostile clients: output back-pressure
// (--max_output_bytes), the command-line deadline (--idle_timeout from a
// line's first byte) and the minimum DATA rate (--min_data_rate).
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "etrnd/smtp/server_session.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

class ClockedServices : public SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view) override { return RecipientVerdict::kAccept; }
  std::string NewQueueId() override { return "Q1"; }
  void StoreMessage(AcceptedMessage) override { ++stored; }
  void StartEtrn(std::string_view) override {}
  absl::Time Now() override { return now; }
  size_t UnsentOutputBytes() override { return unsent; }

  absl::Time now = absl::FromUnixSeconds(1764648451);
  size_t unsent = 0;  // what the "transport" still holds
  int stored = 0;
};

class ServerSessionLimitsTest : public ::testing::Test {
 protected:
  ServerSessionLimitsTest() {
    config_.hostname = "mx.test";
    config_.limits.max_output_bytes = 4096;
    config_.limits.pause_input_bytes = 1024;
    config_.limits.command_timeout = absl::Seconds(10);
    config_.limits.min_data_rate_bytes_per_second = 100;
  }
  void Start() {
    session_.emplace(config_, services_, SocketAddress(IpAddress::Parse("192.0.2.7").value(), 1));
    session_->Start();
    session_->TakeOutput();
  }
  void Advance(absl::Duration d) { services_.now += d; }
  std::string Send(std::string_view bytes) {
    session_->OnBytes(bytes);
    return session_->TakeOutput();
  }

  SessionConfig config_;
  ClockedServices services_;
  std::optional<ServerSession> session_;
};

int CountReplies(std::string_view output, std::string_view code) {
  int count = 0;
  for (size_t at = output.find(code); at != std::string_view::npos;
       at = output.find(code, at + 1)) {
    ++count;
  }
  return count;
}

TEST_F(ServerSessionLimitsTest, OutputOverTheBoundStopsProcessingUntilItDrains) {
  Start();
  std::string flood;
  for (int i = 0; i < 500; ++i) flood += "HELP\r\n";
  // The transport already holds unsent bytes close to the bound.
  services_.unsent = 3000;
  std::string out = Send(flood);
  EXPECT_LT(out.size() + services_.unsent, config_.limits.max_output_bytes + 200);
  EXPECT_TRUE(session_->output_blocked() || !out.empty());
  const int answered = CountReplies(out, "214 ");
  EXPECT_GT(answered, 0);
  EXPECT_LT(answered, 500);
  EXPECT_FALSE(session_->wants_input());  // the glue must stop reading
  EXPECT_GT(session_->pending_input_bytes(), 0u);
  // Nothing is processed while the transport still holds the bytes.
  services_.unsent = config_.limits.max_output_bytes;
  session_->OnOutputDrained();
  EXPECT_EQ(session_->TakeOutput(), "");
  // Drained: the held commands are answered, in order, none lost.
  int total = answered;
  for (int round = 0; round < 100 && session_->pending_input_bytes() > 0; ++round) {
    services_.unsent = 0;
    session_->OnOutputDrained();
    total += CountReplies(session_->TakeOutput(), "214 ");
  }
  EXPECT_EQ(total, 500);
  EXPECT_TRUE(session_->wants_input());
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionLimitsTest, BlockedOutputIsNotACommandTimeout) {
  Start();
  services_.unsent = config_.limits.max_output_bytes;
  Send("NOOP\r\n");
  Advance(absl::Seconds(60));
  // The glue aborts a non-draining session; the session does not time out.
  EXPECT_FALSE(session_->CheckDeadlines(services_.now));
}

TEST_F(ServerSessionLimitsTest, NoCommandWithinTheTimeoutGets421) {
  Start();
  Advance(absl::Seconds(9));
  EXPECT_FALSE(session_->CheckDeadlines(services_.now));
  Advance(absl::Seconds(2));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now));
  EXPECT_EQ(session_->TakeOutput(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(session_->close_requested());
}

TEST_F(ServerSessionLimitsTest, TricklingBytesDoNotExtendTheCommandDeadline) {
  Start();
  // One byte a second: before, every byte reset the idle timer.
  for (int i = 0; i < 10; ++i) {
    Send("N");
    Advance(absl::Seconds(1));
    EXPECT_FALSE(session_->CheckDeadlines(services_.now)) << i;
  }
  Send("O");
  Advance(absl::Seconds(1));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now));
  EXPECT_TRUE(absl::StartsWith(session_->TakeOutput(), "421 4.4.2"));
}

TEST_F(ServerSessionLimitsTest, EachCompleteCommandRestartsTheDeadline) {
  Start();
  for (int i = 0; i < 5; ++i) {
    Advance(absl::Seconds(8));
    EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
    EXPECT_FALSE(session_->CheckDeadlines(services_.now));
  }
  // A line started right after a complete one gets its own full timeout.
  Send("NOOP\r\nNO");
  Advance(absl::Seconds(9));
  EXPECT_FALSE(session_->CheckDeadlines(services_.now));
  Advance(absl::Seconds(2));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now));
}

TEST_F(ServerSessionLimitsTest, SlowDataBelowTheMinimumRateGets421AndNothingIsStored) {
  Start();
  Send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  // 10 bytes a second against a minimum of 100: fine during the grace
  // period (the command timeout, 10 s), cut after it.
  for (int i = 0; i < 10; ++i) {
    Send("xxxxxxxxxx");
    Advance(absl::Seconds(1));
    EXPECT_FALSE(session_->CheckDeadlines(services_.now)) << i;
  }
  Send("xxxxxxxxxx");
  Advance(absl::Seconds(1));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now));
  EXPECT_EQ(session_->TakeOutput(), "421 4.4.2 mx.test Error: data rate too low\r\n");
  EXPECT_EQ(services_.stored, 0);
}

TEST_F(ServerSessionLimitsTest, DataAtTheRateIsNeverCut) {
  Start();
  Send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  const std::string line(198, 'y');
  for (int i = 0; i < 60; ++i) {  // 200 bytes/s for a minute
    Send(line + "\r\n");
    Advance(absl::Seconds(1));
    EXPECT_FALSE(session_->CheckDeadlines(services_.now)) << i;
  }
  Send(".\r\n");
  EXPECT_EQ(services_.stored, 1);
}

TEST_F(ServerSessionLimitsTest, DataWithNoByteForTheTimeoutIsCutEvenWithoutARate) {
  config_.limits.min_data_rate_bytes_per_second = 0;
  Start();
  Send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  Send("x");
  Advance(absl::Seconds(11));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now));
}

TEST_F(ServerSessionLimitsTest, TheDeadlineAfterDataRunsFromTheFinalDot) {
  Start();
  Send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  for (int i = 0; i < 30; ++i) {
    Send(std::string(500, 'z') + "\r\n");
    Advance(absl::Seconds(1));
  }
  Send(".\r\n");
  session_->OnStoreResult(std::string("Q1"));
  Advance(absl::Seconds(9));
  EXPECT_FALSE(session_->CheckDeadlines(services_.now));
}

TEST_F(ServerSessionLimitsTest, InputHeldOverTheAbuseBoundCloses) {
  config_.limits.max_pending_input_bytes = 2048;
  Start();
  services_.unsent = config_.limits.max_output_bytes;  // nothing is processed
  Send(std::string(1500, 'a'));
  EXPECT_FALSE(session_->close_requested());
  EXPECT_TRUE(absl::StartsWith(Send(std::string(1500, 'a')), "421 4.7.0"));
  EXPECT_TRUE(session_->close_requested());
}

TEST_F(ServerSessionLimitsTest, TooManyReceivedFieldsIsAMailLoop) {
  config_.limits.max_hops = 5;
  Start();
  Send("EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  std::string headers;
  for (int i = 0; i < 5; ++i) headers += "Received: from hop" + std::to_string(i) + "\r\n";
  // Ours makes six.
  std::string reply = Send(headers + "Subject: x\r\n\r\nReceived: in the body\r\n.\r\n");
  EXPECT_TRUE(absl::StrContains(reply, "554 5.4.6")) << reply;
  EXPECT_EQ(services_.stored, 0);
  // Four of theirs and ours: five, accepted; a body line does not count.
  Send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
  headers.clear();
  for (int i = 0; i < 4; ++i) headers += "RECEIVED: from hop" + std::to_string(i) + "\r\n";
  Send(headers + "\r\nReceived: body\r\nReceived: body\r\n.\r\n");
  EXPECT_EQ(services_.stored, 1);
}

}  // namespace
}  // namespace etrnd::smtp

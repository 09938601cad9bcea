#include "etrnd/blaster/sink_session.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "etrnd/blaster/fail_schedule.h"
#include "etrnd/common/strings.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

class SinkSessionTest : public ::testing::Test {
 protected:
  void Make(SinkSessionConfig config, double fail_fraction = 0) {
    config_ = config;
    rcpt_failures_ = FailSchedule(fail_fraction);
    data_failures_ = FailSchedule(fail_fraction);
    session_ = std::make_unique<SinkSession>(config_, &rcpt_failures_, &data_failures_);
  }
  std::string Feed(std::string_view bytes) {
    std::string output;
    open_ = session_->OnReceive(bytes, &output, &accepted_);
    return output;
  }

  SinkSessionConfig config_;
  FailSchedule rcpt_failures_{0};
  FailSchedule data_failures_{0};
  std::unique_ptr<SinkSession> session_;
  std::vector<ReceivedMessage> accepted_;
  bool open_ = true;
};

TEST(FailScheduleTest, ExactlyTheFractionFails) {
  FailSchedule half(0.5);
  int failures = 0;
  for (int i = 0; i < 1000; ++i) failures += half.NextFails();
  EXPECT_EQ(failures, 500);
  FailSchedule never(0), always(1), third(1.0 / 3);
  int thirds = 0;
  for (int i = 0; i < 300; ++i) {
    EXPECT_FALSE(never.NextFails());
    EXPECT_TRUE(always.NextFails());
    thirds += third.NextFails();
  }
  EXPECT_EQ(thirds, 100);
}

TEST_F(SinkSessionTest, EhloAdvertisesPipeliningSize8bitmime) {
  Make({});
  EXPECT_TRUE(absl::StartsWith(AsAbsl(session_->Greeting()), "220 "));
  const std::string reply = Feed("EHLO c.test\r\n");
  EXPECT_NE(reply.find("250-PIPELINING\r\n"), std::string::npos);
  EXPECT_NE(reply.find("250-SIZE 67108864\r\n"), std::string::npos);
  EXPECT_NE(reply.find("8BITMIME"), std::string::npos);
  EXPECT_TRUE(absl::EndsWith(AsAbsl(reply), "250 ENHANCEDSTATUSCODES\r\n"));
}

TEST_F(SinkSessionTest, PipelinedMessageUnstuffedByteExact) {
  SinkSessionConfig config;
  config.keep_content = true;
  Make(config);
  Feed("EHLO c\r\n");
  EXPECT_EQ(
      Feed("MAIL FROM:<s@x.test> SIZE=20\r\nRCPT TO:<a@D1.test>\r\nRCPT TO:<b@d2.test>\r\n"
           "DATA\r\n"),
      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  // Terminator split across reads; a stuffed lone dot and a stuffed ".x".
  EXPECT_EQ(Feed("Subject: t\r\n\r\n..\r\n..x\r\nend\r\n.\r"), "");
  EXPECT_EQ(Feed("\nQUIT\r\n"), "250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n");
  EXPECT_FALSE(open_);
  ASSERT_EQ(accepted_.size(), 1u);
  EXPECT_EQ(accepted_[0].mail_from, "s@x.test");
  EXPECT_EQ(accepted_[0].recipients, (std::vector<std::string>{"a@D1.test", "b@d2.test"}));
  EXPECT_EQ(accepted_[0].content, "Subject: t\r\n\r\n.\r\n.x\r\nend\r\n");
  EXPECT_EQ(accepted_[0].bytes, accepted_[0].content.size());
}

TEST_F(SinkSessionTest, BareLfDotDoesNotEndData) {
  SinkSessionConfig config;
  config.keep_content = true;
  Make(config);
  Feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@d.test>\r\nDATA\r\n");
  EXPECT_EQ(Feed("a\n.\nb\r\n"), "");
  EXPECT_TRUE(accepted_.empty());
  // Only <CRLF>.<CRLF> ends the data; the bare LFs are refused as etrnd does.
  EXPECT_EQ(Feed(".\r\n"), "550 5.6.0 Error: bare <CR> or <LF> in message content\r\n");
  EXPECT_TRUE(accepted_.empty());
  EXPECT_EQ(Feed("NOOP\r\n"), "250 2.0.0 Ok\r\n");  // back in command mode
}

TEST_F(SinkSessionTest, FailsTheChosenFractionOfRecipients) {
  SinkSessionConfig config;
  config.rcpt_fail_code = 550;
  Make(config, 0.5);
  Feed("EHLO c\r\n");
  std::string reply = Feed("MAIL FROM:<s@x>\r\nRCPT TO:<a@d>\r\nRCPT TO:<b@d>\r\nDATA\r\n");
  EXPECT_NE(reply.find("550 5.7.1"), std::string::npos);
  EXPECT_NE(reply.find("354 "), std::string::npos);
  Feed("x\r\n.\r\n");
  ASSERT_EQ(accepted_.size(), 1u);
  EXPECT_EQ(accepted_[0].recipients.size(), 1u);
}

TEST_F(SinkSessionTest, FailsTheChosenFractionOfMessagesAtEndOfData) {
  SinkSessionConfig config;
  config.data_fail_code = 451;
  Make(config, 0.5);
  Feed("EHLO c\r\n");
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    const std::string reply = Feed("MAIL FROM:<s@x>\r\nRCPT TO:<a@d>\r\nDATA\r\nbody\r\n.\r\n");
    refused += reply.find("451 4.7.1") != std::string::npos;
  }
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(accepted_.size(), 5u);
}

TEST_F(SinkSessionTest, OrderErrorsAndUnknownCommands) {
  Make({});
  EXPECT_EQ(Feed("RCPT TO:<a@d>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Feed("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Feed("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Feed("MAIL FROM:<>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(Feed("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(Feed("BDAT 10\r\n"), "502 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(Feed("RSET\r\nNOOP\r\n"), "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(open_);
}

TEST_F(SinkSessionTest, OverlongCommandLineIsRefusedAndSkipped) {
  Make({});
  // Refused at its end (as etrnd's server does), without being buffered.
  EXPECT_EQ(Feed(std::string(SinkSession::kMaxCommandLineBytes + 100, 'A')), "");
  EXPECT_EQ(Feed("tail\r\nNOOP\r\n"), "500 5.5.0 Line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(SinkSessionTest, OversizedMessageRefusedAtEnd) {
  SinkSessionConfig config;
  config.max_message_bytes = 10;
  Make(config);
  Feed("HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@d>\r\nDATA\r\n");
  EXPECT_EQ(Feed("0123456789abcdef\r\n.\r\n"), "552 5.3.4 Error: message too large\r\n");
  EXPECT_TRUE(accepted_.empty());
}

TEST_F(SinkSessionTest, StartTlsDropsPipelinedInputAndStartsOver) {
  SinkSessionConfig config;
  config.starttls = true;
  Make(config);
  EXPECT_NE(Feed("EHLO c\r\n").find("250-STARTTLS\r\n"), std::string::npos);
  // RFC 3207 4.2: what was pipelined behind STARTTLS is not trusted.
  EXPECT_EQ(Feed("STARTTLS\r\nMAIL FROM:<x@y>\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(session_->wants_tls_start());
  EXPECT_EQ(Feed("NOOP\r\n"), "");  // nothing in clear until the handshake
  session_->OnTlsStarted();
  EXPECT_FALSE(session_->wants_tls_start());
  EXPECT_EQ(Feed("EHLO c\r\n").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(Feed("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
  EXPECT_EQ(Feed("RCPT TO:<a@d>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(SinkSessionTest, StartTlsWithoutACertificateIsUnknown) {
  Make({});
  EXPECT_EQ(Feed("EHLO c\r\n").find("STARTTLS"), std::string::npos);
  EXPECT_EQ(Feed("STARTTLS\r\n"), "502 5.5.2 Error: command not recognized\r\n");
  EXPECT_FALSE(session_->wants_tls_start());
}

TEST_F(SinkSessionTest, AuthPlainRequiredBeforeMailAndChecked) {
  SinkSessionConfig config;
  config.auth_user = "alice";
  config.auth_password = "secret";
  Make(config);
  EXPECT_NE(Feed("EHLO c\r\n").find("250-AUTH PLAIN\r\n"), std::string::npos);
  EXPECT_EQ(Feed("MAIL FROM:<s@x>\r\n"), "530 5.7.0 Authentication required\r\n");
  EXPECT_EQ(Feed("AUTH LOGIN\r\n"),
            "504 5.5.4 Error: only AUTH PLAIN with an initial response\r\n");
  // base64("\0alice\0wrong"), then base64("\0alice\0secret").
  EXPECT_EQ(Feed("AUTH PLAIN AGFsaWNlAHdyb25n\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(Feed("AUTH PLAIN !!!\r\n"), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(Feed("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(Feed("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
            "503 5.5.1 Error: already authenticated\r\n");
  EXPECT_EQ(Feed("MAIL FROM:<s@x>\r\n"), "250 2.1.0 Ok\r\n");
}

}  // namespace
}  // namespace etrnd::blaster

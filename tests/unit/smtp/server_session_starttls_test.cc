// STARTTLS in the server session (RFC 3207): the replies, the reset of every
// session state, and CVE-2011-0411 (cleartext pipelined behind STARTTLS is
// never executed).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/smtp/received_header.h"
#include "etrnd/smtp/server_session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Services : public SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view) override { return RecipientVerdict::kAccept; }
  std::string NewQueueId() override { return "Q" + std::to_string(++ids); }
  void StoreMessage(AcceptedMessage message) override { stored.push_back(std::move(message)); }
  void StartEtrn(std::string_view) override {}
  absl::Time Now() override { return now; }

  int ids = 0;
  std::vector<AcceptedMessage> stored;
  absl::Time now = absl::FromUnixSeconds(1764648451);
};

class StarttlsTest : public ::testing::Test {
 protected:
  void Start(bool starttls = true) {
    config_.hostname = "mx.test";
    config_.starttls = starttls;
    config_.limits.command_timeout = absl::Seconds(300);
    session_ = std::make_unique<ServerSession>(
        config_, services_, SocketAddress(IpAddress::Parse("192.0.2.7").value(), 40000));
    session_->Start();
    session_->TakeOutput();
  }
  std::string Send(std::string_view bytes) {
    session_->OnBytes(bytes);
    return session_->TakeOutput();
  }
  void StartTls() {
    ASSERT_EQ(Send("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
    ASSERT_TRUE(session_->wants_tls_start());
    session_->OnTlsStarted("TLSv1.3", "TLS_AES_256_GCM_SHA384");
    ASSERT_TRUE(session_->tls_active());
    ASSERT_FALSE(session_->wants_tls_start());
  }

  SessionConfig config_;
  Services services_;
  std::unique_ptr<ServerSession> session_;
};

TEST_F(StarttlsTest, EhloOffersStarttlsOnlyBeforeTls) {
  Start();
  EXPECT_THAT(Send("EHLO c.example\r\n"), HasSubstr("250-STARTTLS\r\n"));
  StartTls();
  EXPECT_THAT(Send("EHLO c.example\r\n"), Not(HasSubstr("STARTTLS")));
}

TEST_F(StarttlsTest, NotConfigured) {
  Start(/*starttls=*/false);
  EXPECT_THAT(Send("EHLO c.example\r\n"), Not(HasSubstr("STARTTLS")));
  EXPECT_EQ(Send("STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
  EXPECT_FALSE(session_->wants_tls_start());
}

TEST_F(StarttlsTest, RefusedWithArgumentsUnderTlsOrInATransaction) {
  Start();
  EXPECT_EQ(Send("STARTTLS now\r\n"), "501 5.5.4 Syntax: STARTTLS\r\n");
  EXPECT_EQ(Send("EHLO c\r\nMAIL FROM:<a@example.org>\r\n").substr(0, 3), "250");
  EXPECT_EQ(Send("STARTTLS\r\n"), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_EQ(Send("RSET\r\n"), "250 2.0.0 Ok\r\n");
  StartTls();
  EXPECT_EQ(Send("STARTTLS\r\n"), "503 5.5.1 Error: TLS already active\r\n");
}

TEST_F(StarttlsTest, PipelinedCommandsAfterStarttlsAreDiscarded) {
  Start();
  Send("EHLO c.example\r\n");
  // One write: STARTTLS plus an injected transaction (CVE-2011-0411).
  EXPECT_EQ(Send("STARTTLS\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<y@example.com>\r\n"),
            "220 2.0.0 Ready to start TLS\r\n");
  // More cleartext before the handshake: discarded too, no reply.
  EXPECT_EQ(Send("RSET\r\n"), "");
  session_->OnTlsStarted("TLSv1.3", "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(session_->pending_input_bytes(), 0u);
  EXPECT_FALSE(session_->in_transaction());
  // Nothing of it ran: RCPT needs a MAIL given under TLS.
  EXPECT_EQ(Send("RCPT TO:<y@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_F(StarttlsTest, TlsResetsTheGreetingAndMarksTheReceivedHeader) {
  Start();
  Send("EHLO before.tls\r\n");
  StartTls();
  // The greeting is forgotten: MAIL without EHLO says "unknown".
  Send("EHLO after.tls\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  EXPECT_EQ(Send("Subject: x\r\n\r\nhi\r\n.\r\n"), "");
  ASSERT_EQ(services_.stored.size(), 1u);
  const std::string& data = services_.stored[0].data;
  EXPECT_THAT(data, HasSubstr("from after.tls ([192.0.2.7])\r\n"
                              "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
                              "\tby mx.test (etrnd) with ESMTPS id Q1"));
}

TEST_F(StarttlsTest, HandshakeMustFinishWithinTheCommandTimeout) {
  Start();
  ASSERT_EQ(Send("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_FALSE(session_->CheckDeadlines(services_.now + absl::Seconds(299)));
  EXPECT_TRUE(session_->CheckDeadlines(services_.now + absl::Seconds(301)));
  EXPECT_TRUE(session_->close_requested());
}

TEST(ReceivedHeaderTlsTest, ProtocolNamesFollowRfc3848) {
  ReceivedInfo info{.helo_name = "c",
                    .peer_ip = IpAddress::Parse("192.0.2.7").value(),
                    .hostname = "mx.test",
                    .tls_version = "TLSv1.3",
                    .tls_cipher = "TLS_AES_128_GCM_SHA256",
                    .authenticated = true,
                    .queue_id = "Q1",
                    .recipient = "",
                    .time = absl::FromUnixSeconds(0)};
  EXPECT_THAT(FormatReceivedHeader(info), HasSubstr(" with ESMTPSA id Q1"));
  info.authenticated = false;
  EXPECT_THAT(FormatReceivedHeader(info), HasSubstr(" with ESMTPS id Q1"));
  info.tls_version = "";
  EXPECT_THAT(FormatReceivedHeader(info), HasSubstr(" with ESMTP id Q1"));
  info.esmtp = false;
  EXPECT_THAT(FormatReceivedHeader(info), HasSubstr(" with SMTP id Q1"));
}

}  // namespace
}  // namespace etrnd::smtp

#include "etrnd/blaster/client_session.h"

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

constexpr std::string_view kEhloWithPipelining =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 8BITMIME\r\n";
constexpr std::string_view kEhloPlain = "250-mx.test\r\n250 SIZE 1000000\r\n";

class ClientSessionTest : public ::testing::Test {
 protected:
  // Greets and EHLOs; leaves the session idle.
  void Open(std::string_view ehlo_reply, bool use_pipelining = true) {
    ClientSessionConfig config;
    config.helo_name = "client.test";
    config.use_pipelining = use_pipelining;
    session_ = std::make_unique<ClientSession>(config);
    Receive("220 mx.test ESMTP\r\n");
    ASSERT_EQ(Sent(), "EHLO client.test\r\n");
    Receive(ehlo_reply);
    ASSERT_TRUE(actions_.ready);
    ASSERT_TRUE(session_->idle());
  }
  void Receive(std::string_view bytes) {
    actions_.Clear();
    session_->OnReceive(bytes, &actions_);
  }
  void Start(std::vector<std::string> recipients,
             std::string_view content = "Subject: x\r\n\r\n.hi\r\n") {
    actions_.Clear();
    session_->StartMessage("s@blaster.test", recipients, content, &actions_);
  }
  std::string Sent() const { return absl::StrJoin(actions_.sends, ""); }

  std::unique_ptr<ClientSession> session_;
  ClientActions actions_;
};

TEST_F(ClientSessionTest, PipelinedMessageGoesOutInOneSendThenContent) {
  Open(kEhloWithPipelining);
  EXPECT_TRUE(session_->pipelining());
  Start({"a@d1.test", "b@d2.test"});
  ASSERT_EQ(actions_.sends.size(), 1u);
  // SIZE is advertised: MAIL declares the content size (RFC 1870).
  EXPECT_EQ(actions_.sends[0],
            "MAIL FROM:<s@blaster.test> SIZE=19\r\nRCPT TO:<a@d1.test>\r\nRCPT TO:<b@d2.test>\r\n"
            "DATA\r\n");
  Receive("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(Sent(), "Subject: x\r\n\r\n..hi\r\n.\r\n");  // dot-stuffed and terminated
  EXPECT_TRUE(actions_.results.empty());
  Receive("250 queued\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_TRUE(actions_.results[0].ok);
  EXPECT_TRUE(actions_.ready);
  EXPECT_TRUE(actions_.sends.empty());
}

TEST_F(ClientSessionTest, RepliesSplitAcrossReadsAreReassembled) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("250 o");
  Receive("k\r\n250 ok\r\n3");
  EXPECT_TRUE(actions_.sends.empty());
  Receive("54 go\r\n");
  EXPECT_FALSE(actions_.sends.empty());
}

TEST_F(ClientSessionTest, WithoutPipeliningOneCommandPerReply) {
  Open(kEhloPlain);
  EXPECT_FALSE(session_->pipelining());
  Start({"a@d1.test", "b@d2.test"});
  EXPECT_EQ(Sent(), "MAIL FROM:<s@blaster.test> SIZE=19\r\n");
  Receive("250 ok\r\n");
  EXPECT_EQ(Sent(), "RCPT TO:<a@d1.test>\r\n");
  Receive("250 ok\r\n");
  EXPECT_EQ(Sent(), "RCPT TO:<b@d2.test>\r\n");
  Receive("250 ok\r\n");
  EXPECT_EQ(Sent(), "DATA\r\n");
  Receive("354 go\r\n");
  EXPECT_EQ(Sent(), "Subject: x\r\n\r\n..hi\r\n.\r\n");
  Receive("250 ok\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_TRUE(actions_.results[0].ok);
}

TEST_F(ClientSessionTest, PipeliningCanBeTurnedOff) {
  Open(kEhloWithPipelining, /*use_pipelining=*/false);
  EXPECT_FALSE(session_->pipelining());
  Start({"a@d1.test"});
  EXPECT_EQ(Sent(), "MAIL FROM:<s@blaster.test> SIZE=19\r\n");
}

TEST_F(ClientSessionTest, PartialRecipientRefusalStillDelivers) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test", "b@d2.test"});
  Receive("250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n");
  Receive("250 ok\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_TRUE(actions_.results[0].ok);
  EXPECT_EQ(actions_.results[0].rejected_recipient_codes, std::vector<int>{550});
}

TEST_F(ClientSessionTest, AllRecipientsRefusedPipelinedFailsWithRcptCodeThenRset) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("250 ok\r\n554 5.7.1 relay denied\r\n554 5.5.1 no valid recipients\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_FALSE(actions_.results[0].ok);
  EXPECT_EQ(actions_.results[0].error, "554");
  EXPECT_EQ(Sent(), "RSET\r\n");
  EXPECT_FALSE(actions_.ready);
  Receive("250 ok\r\n");
  EXPECT_TRUE(actions_.ready);
}

TEST_F(ClientSessionTest, DeciderIsTheFirstRefusal) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("451 4.3.0 try later\r\n503 need MAIL\r\n503 need MAIL\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].error, "451");
}

TEST_F(ClientSessionTest, UnpipelinedAllRefusedSkipsData) {
  Open(kEhloPlain);
  Start({"a@d1.test"});
  Receive("250 ok\r\n");
  Receive("550 no such user\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].error, "550");
  EXPECT_EQ(Sent(), "RSET\r\n");
}

TEST_F(ClientSessionTest, RefusalAfterContentNeedsNoRset) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("250 ok\r\n250 ok\r\n354 go\r\n");
  Receive("552 5.3.4 too big\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_FALSE(actions_.results[0].ok);
  EXPECT_EQ(actions_.results[0].error, "552");
  EXPECT_TRUE(actions_.sends.empty());
  EXPECT_TRUE(actions_.ready);
}

TEST_F(ClientSessionTest, StrangeServer354AfterRefusedEnvelopeGetsEmptyMessage) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("250 ok\r\n550 no\r\n354 go\r\n");
  EXPECT_EQ(Sent(), ".\r\n");
  Receive("250 ok\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_FALSE(actions_.results[0].ok);
  EXPECT_EQ(actions_.results[0].error, "550");
}

TEST_F(ClientSessionTest, EhloRefusedFallsBackToHelo) {
  session_ = std::make_unique<ClientSession>(ClientSessionConfig{"c.test", true});
  Receive("220 hi\r\n");
  Receive("502 no EHLO here\r\n");
  EXPECT_EQ(Sent(), "HELO c.test\r\n");
  Receive("250 hello\r\n");
  EXPECT_TRUE(actions_.ready);
  EXPECT_FALSE(session_->pipelining());
}

TEST_F(ClientSessionTest, RefusedGreetingIsASessionError) {
  session_ = std::make_unique<ClientSession>(ClientSessionConfig{});
  Receive("554 go away\r\n");
  EXPECT_EQ(actions_.session_error, "554");
  EXPECT_TRUE(actions_.close);
  EXPECT_TRUE(session_->closed());
}

TEST_F(ClientSessionTest, Reply421MidMessageFailsItAndCloses) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("250 ok\r\n421 4.3.2 shutting down\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].error, "421");
  EXPECT_TRUE(actions_.close);
}

TEST_F(ClientSessionTest, ConnectionLostMidMessageFailsIt) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  actions_.Clear();
  session_->OnConnectionLost("connection", &actions_);
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].error, "connection");
}

TEST_F(ClientSessionTest, ConnectionLostWhileIdleIsASessionError) {
  Open(kEhloWithPipelining);
  actions_.Clear();
  session_->OnConnectionLost("connection", &actions_);
  EXPECT_TRUE(actions_.results.empty());
  EXPECT_EQ(actions_.session_error, "connection");
}

TEST_F(ClientSessionTest, GarbageReplyIsAProtocolError) {
  Open(kEhloWithPipelining);
  Start({"a@d1.test"});
  Receive("hello?\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].error, "protocol");
  EXPECT_TRUE(actions_.close);
}

TEST_F(ClientSessionTest, UnsolicitedRepliesWhileIdle) {
  Open(kEhloWithPipelining);
  Receive("421 4.4.2 idle too long\r\n");  // an idle timeout: counted as 421
  EXPECT_EQ(actions_.session_error, "421");
  EXPECT_TRUE(actions_.close);
  Open(kEhloWithPipelining);
  Receive("250 what\r\n");
  EXPECT_EQ(actions_.session_error, "protocol");
}

TEST_F(ClientSessionTest, EtrnSuccessAndRefusal) {
  Open(kEhloWithPipelining);
  actions_.Clear();
  session_->StartEtrn("d1.test", &actions_);
  EXPECT_EQ(Sent(), "ETRN d1.test\r\n");
  Receive("253 2.0.0 OK, 3 pending messages for node d1.test started\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_EQ(actions_.results[0].kind, TransactionResult::Kind::kEtrn);
  EXPECT_TRUE(actions_.results[0].ok);
  EXPECT_TRUE(actions_.ready);
  actions_.Clear();
  session_->StartEtrn("d2.test", &actions_);
  Receive("459 4.7.1 Node d2.test not allowed: not served\r\n");
  ASSERT_EQ(actions_.results.size(), 1u);
  EXPECT_FALSE(actions_.results[0].ok);
  EXPECT_EQ(actions_.results[0].error, "459");
}

TEST_F(ClientSessionTest, QuitWaitsFor221ThenCloses) {
  Open(kEhloWithPipelining);
  actions_.Clear();
  session_->Quit(&actions_);
  EXPECT_EQ(Sent(), "QUIT\r\n");
  Receive("221 bye\r\n");
  EXPECT_TRUE(actions_.close);
  actions_.Clear();
  session_->OnConnectionLost("connection", &actions_);
  EXPECT_TRUE(actions_.session_error.empty());
}

TEST_F(ClientSessionTest, BackToBackMessagesOnOneSession) {
  Open(kEhloWithPipelining);
  for (int i = 0; i < 3; ++i) {
    Start({"a@d1.test"});
    ASSERT_FALSE(actions_.sends.empty());
    Receive("250 ok\r\n250 ok\r\n354 go\r\n");
    Receive("250 ok\r\n");
    ASSERT_EQ(actions_.results.size(), 1u);
    EXPECT_TRUE(actions_.results[0].ok);
    EXPECT_TRUE(actions_.ready);
  }
}

TEST_F(ClientSessionTest, AuthPlainAfterEhloThenReady) {
  ClientSessionConfig config;
  config.helo_name = "c.test";
  config.auth_user = "alice";
  config.auth_password = "secret";
  session_ = std::make_unique<ClientSession>(config);
  Receive("220 hi\r\n");
  Receive(kEhloWithPipelining);
  EXPECT_EQ(Sent(), "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  EXPECT_FALSE(actions_.ready);
  Receive("235 2.7.0 Authentication successful\r\n");
  EXPECT_TRUE(actions_.ready);
}

TEST_F(ClientSessionTest, AuthRefusedIsASessionErrorUnderItsCode) {
  ClientSessionConfig config;
  config.auth_user = "alice";
  config.auth_password = "wrong";
  session_ = std::make_unique<ClientSession>(config);
  Receive("220 hi\r\n");
  Receive(kEhloWithPipelining);
  Receive("535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(actions_.session_error, "535");
  EXPECT_EQ(Sent(), "QUIT\r\n");
  EXPECT_TRUE(actions_.close);
  EXPECT_TRUE(session_->closed());
}

TEST_F(ClientSessionTest, StartTlsAsksForTheHandshakeThenEhloAgain) {
  ClientSessionConfig config;
  config.helo_name = "c.test";
  config.starttls = true;
  session_ = std::make_unique<ClientSession>(config);
  Receive("220 hi\r\n");
  Receive("250-mx.test\r\n250 STARTTLS\r\n");
  EXPECT_EQ(Sent(), "STARTTLS\r\n");
  EXPECT_FALSE(actions_.start_tls);
  Receive("220 2.0.0 Ready to start TLS\r\n");
  EXPECT_TRUE(actions_.start_tls);
  EXPECT_TRUE(actions_.sends.empty());
  EXPECT_TRUE(session_->awaiting_reply());  // the handshake is timed too
  actions_.Clear();
  session_->OnTlsStarted(&actions_);
  EXPECT_EQ(Sent(), "EHLO c.test\r\n");
  EXPECT_TRUE(session_->tls_active());
  Receive(kEhloWithPipelining);
  EXPECT_TRUE(actions_.ready);
}

TEST_F(ClientSessionTest, StartTlsNotOfferedIsASessionError) {
  ClientSessionConfig config;
  config.starttls = true;
  session_ = std::make_unique<ClientSession>(config);
  Receive("220 hi\r\n");
  Receive(kEhloPlain);
  EXPECT_EQ(actions_.session_error, "tls");
  EXPECT_TRUE(actions_.close);
}

TEST_F(ClientSessionTest, TlsHandshakeFailureIsASessionError) {
  ClientSessionConfig config;
  config.starttls = true;
  session_ = std::make_unique<ClientSession>(config);
  Receive("220 hi\r\n");
  Receive("250-mx.test\r\n250 STARTTLS\r\n");
  Receive("220 go\r\n");
  actions_.Clear();
  session_->OnTlsFailed("wrong version number", &actions_);
  EXPECT_EQ(actions_.session_error, "tls");
  EXPECT_TRUE(actions_.close);
}

}  // namespace
}  // namespace etrnd::blaster

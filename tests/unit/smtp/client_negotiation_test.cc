// smtp::ClientSession set-up paths with canned replies: STARTTLS (RFC 3207)
// in its three modes, AUTH PLAIN (RFC 4954), commands outside transactions,
// and what the session reports about how each message ended.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/smtp/client_session.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kBody = "Subject: hi\r\n\r\nhello\r\n";
constexpr std::string_view kEhloTls = "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
constexpr std::string_view kEhloNoTls = "250-mx.test\r\n250 PIPELINING\r\n";
constexpr std::string_view kEhloAfterTls = "250-mx.test\r\n250 AUTH PLAIN\r\n";

OutboundMessage Message(uint64_t token, std::vector<std::string> recipients) {
  return OutboundMessage{
      .token = token, .mail_from = "s@a.test", .recipients = std::move(recipients), .data = kBody};
}

std::string Feed(ClientSession& session, std::string_view bytes) {
  session.OnBytes(bytes);
  return session.TakeOutputAsString();
}

ClientSession::Options Tls(TlsMode mode) {
  ClientSession::Options options;
  options.helo_hostname = "relay.test";
  options.tls = mode;
  return options;
}

// A session with one two-recipient message, greeted, EHLO answered.
std::unique_ptr<ClientSession> Greeted(ClientSession::Options options, std::string_view ehlo_reply,
                                       std::string* sent) {
  auto session = std::make_unique<ClientSession>(std::move(options));
  EXPECT_TRUE(session->Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  EXPECT_EQ(Feed(*session, "220 mx.test ESMTP\r\n"), "EHLO relay.test\r\n");
  *sent = Feed(*session, ehlo_reply);
  return session;
}

// Every recipient deferred at connection level with `text`.
void ExpectAllDeferred(ClientSession& session, std::string_view text) {
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  for (const RecipientOutcome& outcome : outcomes) {
    EXPECT_EQ(outcome.kind, RecipientOutcome::kDeferred);
    EXPECT_TRUE(outcome.connection_level);
    EXPECT_EQ(outcome.stage, RecipientOutcome::Stage::kSession);
    EXPECT_THAT(outcome.reply, HasSubstr(std::string(text)));
  }
  EXPECT_THAT(session.TakeEndedMessages(), ElementsAre(1u));
}

TEST(ClientStartTlsTest, OpportunisticUpgradesThenForgetsTheOldEhlo) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  EXPECT_EQ(sent, "STARTTLS\r\n");
  EXPECT_FALSE(session->wants_tls_start());
  EXPECT_EQ(Feed(*session, "220 2.0.0 Ready to start TLS\r\n"), "");
  EXPECT_TRUE(session->wants_tls_start());
  EXPECT_FALSE(session->tls_active());
  EXPECT_NE(session->reply_timeout(), absl::InfiniteDuration());  // the handshake is bounded
  session->OnTlsStarted();
  EXPECT_TRUE(session->tls_active());
  EXPECT_FALSE(session->wants_tls_start());
  EXPECT_FALSE(session->pipelining());  // learned before TLS: forgotten
  EXPECT_EQ(session->TakeOutputAsString(), "EHLO relay.test\r\n");
  // No PIPELINING after TLS: lock-step; STARTTLS is not sent twice.
  EXPECT_EQ(Feed(*session, "250-mx.test\r\n250 STARTTLS\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_FALSE(session->pipelining());
}

TEST(ClientStartTlsTest, NeverIgnoresTheOffer) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kNever), kEhloTls, &sent);
  EXPECT_THAT(sent, HasSubstr("MAIL FROM:<s@a.test>"));
  EXPECT_FALSE(session->tls_active());
}

TEST(ClientStartTlsTest, OpportunisticWithoutOfferGoesOnInClear) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloNoTls, &sent);
  EXPECT_THAT(sent, HasSubstr("MAIL FROM:<s@a.test>"));
  EXPECT_FALSE(session->tls_active());
}

TEST(ClientStartTlsTest, OpportunisticRefusalGoesOnInClear) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  ASSERT_EQ(sent, "STARTTLS\r\n");
  // PIPELINING from the (only) EHLO still holds.
  EXPECT_EQ(Feed(*session, "454 4.7.0 TLS not available due to temporary reason\r\n"),
            "MAIL FROM:<s@a.test>\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n");
  EXPECT_FALSE(session->tls_active());
  EXPECT_THAT(session->TakeOutcomes(), IsEmpty());
}

TEST(ClientStartTlsTest, RequiredButNotOfferedDefersAllAndQuits) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kRequire), kEhloNoTls, &sent);
  EXPECT_EQ(sent, "QUIT\r\n");
  ExpectAllDeferred(*session, "TLS is required but the server did not offer STARTTLS");
  EXPECT_EQ(session->failure().kind, SessionFailure::Kind::kTls);
  session->OnBytes("221 bye\r\n");
  EXPECT_TRUE(session->done());
}

TEST(ClientStartTlsTest, RequiredAndRefusedDefersAllAndQuits) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kRequire), kEhloTls, &sent);
  ASSERT_EQ(sent, "STARTTLS\r\n");
  EXPECT_EQ(Feed(*session, "454 4.7.0 TLS not available\r\n"), "QUIT\r\n");
  ExpectAllDeferred(*session,
                    "TLS is required but the server refused STARTTLS: 454 4.7.0 TLS not available");
  EXPECT_EQ(session->failure().code, 454);
}

TEST(ClientStartTlsTest, RequiredAfterHeloFallbackDefers) {
  auto session = std::make_unique<ClientSession>(Tls(TlsMode::kRequire));
  ASSERT_TRUE(session->Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  Feed(*session, "220 old\r\n");
  EXPECT_EQ(Feed(*session, "500 what\r\n"), "HELO relay.test\r\n");
  EXPECT_EQ(Feed(*session, "250 old\r\n"), "QUIT\r\n");
  ExpectAllDeferred(*session, "did not offer STARTTLS");
}

TEST(ClientStartTlsTest, ReplyBytesAfterThe220InTheSameReadAreAnError) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  // An attacker in the path appends a reply that the TLS layer must never
  // see as the server's (RFC 3207 section 6; CVE-2011-0411 class).
  EXPECT_EQ(Feed(*session, "220 2.0.0 Ready\r\n250 injected\r\n"), "");
  EXPECT_TRUE(session->done());
  EXPECT_FALSE(session->wants_tls_start());
  ExpectAllDeferred(*session, "protocol error");
  EXPECT_EQ(session->failure().kind, SessionFailure::Kind::kProtocol);
}

TEST(ClientStartTlsTest, PartialLineAfterThe220IsAnErrorToo) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kRequire), kEhloTls, &sent);
  EXPECT_EQ(Feed(*session, "220 2.0.0 Ready\r\n2"), "");
  EXPECT_TRUE(session->done());
  ExpectAllDeferred(*session, "protocol error");
}

TEST(ClientStartTlsTest, PlaintextDuringTheHandshakeIsAnError) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  Feed(*session, "220 2.0.0 Ready\r\n");
  ASSERT_TRUE(session->wants_tls_start());
  EXPECT_EQ(Feed(*session, "250 late\r\n"), "");
  EXPECT_TRUE(session->done());
  ExpectAllDeferred(*session, "protocol error");
}

TEST(ClientStartTlsTest, HandshakeFailureDefersEverything) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  Feed(*session, "220 2.0.0 Ready\r\n");
  session->OnTlsFailed("certificate verify failed");
  EXPECT_TRUE(session->done());
  EXPECT_EQ(session->TakeOutputAsString(), "");
  ExpectAllDeferred(*session, "TLS handshake failed: certificate verify failed");
  EXPECT_EQ(session->failure().kind, SessionFailure::Kind::kTls);
}

TEST(ClientStartTlsTest, HandshakeTimeoutDefersEverything) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kRequire), kEhloTls, &sent);
  Feed(*session, "220 2.0.0 Ready\r\n");
  session->OnTimeout();
  EXPECT_TRUE(session->done());
  ExpectAllDeferred(*session, "timeout during the TLS handshake");
}

TEST(ClientStartTlsTest, Reply421ToStartTlsEndsAtOnce) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kOpportunistic), kEhloTls, &sent);
  EXPECT_EQ(Feed(*session, "421 4.3.2 going down\r\n"), "");
  EXPECT_TRUE(session->done());
  ExpectAllDeferred(*session, "421 4.3.2 going down");
}

ClientSession::Options Auth(TlsMode mode = TlsMode::kNever) {
  ClientSession::Options options = Tls(mode);
  options.auth_user = "alice";
  options.auth_password = "secret";
  return options;
}

TEST(ClientAuthTest, PlainWithInitialResponseThenMail) {
  std::string sent;
  auto session = Greeted(Auth(), kEhloAfterTls, &sent);
  EXPECT_EQ(sent, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");  // base64("\0alice\0secret")
  EXPECT_FALSE(session->authenticated());
  EXPECT_EQ(Feed(*session, "235 2.7.0 Authentication successful\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_TRUE(session->authenticated());
}

TEST(ClientAuthTest, RefusalDefersEverythingAndQuits) {
  std::string sent;
  auto session = Greeted(Auth(), kEhloAfterTls, &sent);
  EXPECT_EQ(Feed(*session, "535 5.7.8 Authentication credentials invalid\r\n"), "QUIT\r\n");
  ExpectAllDeferred(*session, "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(session->failure().kind, SessionFailure::Kind::kAuth);
  EXPECT_EQ(session->failure().code, 535);
}

TEST(ClientAuthTest, AnythingBut235Defers) {
  for (std::string_view reply : {"334 \r\n", "250 ok\r\n", "503 5.5.1 already\r\n"}) {
    std::string sent;
    auto session = Greeted(Auth(), kEhloAfterTls, &sent);
    EXPECT_EQ(Feed(*session, reply), "QUIT\r\n") << reply;
    ExpectAllDeferred(*session, "authentication failed");
  }
}

TEST(ClientAuthTest, AuthComesAfterTls) {
  std::string sent;
  auto session = Greeted(Auth(TlsMode::kRequire), kEhloTls, &sent);
  EXPECT_EQ(sent, "STARTTLS\r\n");  // never the password in clear first
  Feed(*session, "220 2.0.0 Ready\r\n");
  session->OnTlsStarted();
  EXPECT_EQ(session->TakeOutputAsString(), "EHLO relay.test\r\n");
  EXPECT_EQ(Feed(*session, kEhloAfterTls), "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
  EXPECT_EQ(Feed(*session, "235 2.7.0 Authentication successful\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_TRUE(session->tls_active());
  EXPECT_TRUE(session->authenticated());
}

ClientSession::Options Waiting() {
  ClientSession::Options options = Tls(TlsMode::kNever);
  options.quit_when_idle = false;
  return options;
}

TEST(ClientCommandTest, CommandOutsideATransactionGetsItsReply) {
  ClientSession session(Waiting());
  EXPECT_FALSE(session.StartCommand("ETRN b.test"));  // not idle yet
  Feed(session, "220 mx.test\r\n");
  Feed(session, kEhloNoTls);
  ASSERT_TRUE(session.idle_waiting_for_more());
  EXPECT_FALSE(session.StartCommand("ETRN a\r\nRSET"));  // one line only
  ASSERT_TRUE(session.StartCommand("ETRN b.test"));
  EXPECT_EQ(session.TakeOutputAsString(), "ETRN b.test\r\n");
  EXPECT_FALSE(session.idle_waiting_for_more());
  EXPECT_FALSE(session.StartCommand("NOOP"));  // one at a time
  Feed(session, "253 2.0.0 OK, 3 pending messages for node b.test started\r\n");
  const std::vector<SmtpReply> replies = session.TakeCommandReplies();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].code, 253);
  EXPECT_TRUE(session.idle_waiting_for_more());
  session.Quit();
  EXPECT_EQ(session.TakeOutputAsString(), "QUIT\r\n");
}

TEST(ClientCommandTest, MessageEnqueuedDuringACommandFollowsItsReply) {
  ClientSession session(Waiting());
  Feed(session, "220 mx.test\r\n");
  Feed(session, kEhloNoTls);
  ASSERT_TRUE(session.StartCommand("ETRN b.test"));
  session.TakeOutputAsString();
  ASSERT_TRUE(session.Enqueue(Message(4, {"a@b.test"})));
  EXPECT_EQ(session.TakeOutputAsString(), "");  // the command's reply first
  EXPECT_THAT(Feed(session, "459 4.7.1 Node b.test not allowed\r\n"),
              HasSubstr("MAIL FROM:<s@a.test>"));
  EXPECT_EQ(session.TakeCommandReplies().size(), 1u);
}

TEST(ClientCommandTest, Reply421ToACommandIsReturnedAndEndsTheSession) {
  ClientSession session(Waiting());
  Feed(session, "220 mx.test\r\n");
  Feed(session, kEhloNoTls);
  ASSERT_TRUE(session.StartCommand("ETRN b.test"));
  Feed(session, "421 4.3.2 bye\r\n");
  EXPECT_EQ(session.TakeCommandReplies().size(), 1u);
  EXPECT_TRUE(session.done());
  EXPECT_EQ(session.failure().kind, SessionFailure::Kind::kReply);
  EXPECT_EQ(session.failure().code, 421);
}

TEST(ClientOutcomeTest, StagesAndEndedMessages) {
  std::string sent;
  auto session = Greeted(Tls(TlsMode::kNever), kEhloNoTls, &sent);
  ASSERT_THAT(sent, HasSubstr("DATA"));
  Feed(*session, "250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n");
  EXPECT_THAT(session->TakeEndedMessages(), IsEmpty());  // the body's reply ends it
  Feed(*session, "250 2.0.0 queued\r\n");
  const std::vector<RecipientOutcome> outcomes = session->TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].stage, RecipientOutcome::Stage::kRcpt);
  EXPECT_EQ(outcomes[1].stage, RecipientOutcome::Stage::kBody);
  EXPECT_THAT(session->TakeEndedMessages(), ElementsAre(1u));
  EXPECT_EQ(session->failure().kind, SessionFailure::Kind::kNone);
}

TEST(ClientOutcomeTest, PipeliningCanBeTurnedOff) {
  ClientSession::Options options = Tls(TlsMode::kNever);
  options.use_pipelining = false;
  std::string sent;
  auto session = Greeted(options, kEhloNoTls, &sent);
  EXPECT_EQ(sent, "MAIL FROM:<s@a.test>\r\n");
  EXPECT_FALSE(session->pipelining());
}

}  // namespace
}  // namespace etrnd::smtp

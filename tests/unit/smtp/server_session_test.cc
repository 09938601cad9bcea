#include "etrnd/smtp/server_session.h"

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "etrnd/common/strings.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

class FakeServices : public SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view domain) override {
    checked_domains.emplace_back(domain);
    const std::string lower = absl::AsciiStrToLower(AsAbsl(domain));
    return lower == "example.com" || lower == "example.net" ? RecipientVerdict::kAccept
                                                            : RecipientVerdict::kRelayDenied;
  }
  std::string NewQueueId() override { return "Q" + std::to_string(++queue_ids_issued); }
  void StoreMessage(AcceptedMessage message) override {
    last_async = "store";
    stored.push_back(std::move(message));
    if (on_store) on_store();
    if (session != nullptr && store_answers_at_once) session->OnStoreResult(stored.back().queue_id);
  }
  void StartEtrn(std::string_view argument) override {
    last_async = "etrn";
    etrn_arguments.emplace_back(argument);
    if (session != nullptr && !etrn_answer_at_once.empty()) {
      session->OnEtrnResult(etrn_answer_at_once);
    }
  }
  absl::Time Now() override { return absl::FromUnixSeconds(1764648451); }  // 2025-12-02
  void OnEtrnAnswered(int reply_code) override { etrn_answered.push_back(reply_code); }

  ServerSession* session = nullptr;  // for the answer-at-once modes
  bool store_answers_at_once = false;
  std::string etrn_answer_at_once;
  int queue_ids_issued = 0;
  std::vector<std::string> checked_domains;
  std::vector<AcceptedMessage> stored;
  std::vector<std::string> etrn_arguments;
  std::vector<int> etrn_answered;  // reply codes reported for metrics
  std::string last_async;
  std::function<void()> on_store;  // "store" or "etrn": what the session waits for
};

constexpr std::string_view kGreeting = "220 mx.test ESMTP etrnd\r\n";
constexpr std::string_view kEhloReply =
    "250-mx.test\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10485760\r\n"
    "250-ETRN\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 8BITMIME\r\n";
constexpr std::string_view kReceivedOneRecipient =
    "Received: from client.example.org ([192.0.2.7])\r\n"
    "\tby mx.test (etrnd) with ESMTP id Q1\r\n"
    "\tfor <bob@example.com>; Tue, 02 Dec 2025 04:07:31 +0000\r\n";

class ServerSessionTest : public ::testing::Test {
 protected:
  ServerSessionTest() { config_.hostname = "mx.test"; }

  void StartSession() {
    session_ = std::make_unique<ServerSession>(
        config_, services_, SocketAddress(IpAddress::Parse("192.0.2.7").value(), 40000));
    services_.session = session_.get();
    session_->Start();
    EXPECT_EQ(session_->TakeOutput(), kGreeting);
  }

  // Sends bytes and returns what the session answered at once.
  std::string Send(std::string_view bytes) {
    session_->OnBytes(bytes);
    return session_->TakeOutput();
  }

  void Ehlo() {
    std::string expected(kEhloReply);
    expected.replace(expected.find("10485760"), 8,
                     std::to_string(config_.limits.max_message_bytes));
    ASSERT_EQ(Send("EHLO client.example.org\r\n"), expected);
  }

  void OpenTransaction() {
    Ehlo();
    ASSERT_EQ(Send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\n"),
              "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
  }

  SessionConfig config_;
  FakeServices services_;
  std::unique_ptr<ServerSession> session_;
};

TEST_F(ServerSessionTest, GreetsAndAnswersEhloWithExtensions) {
  StartSession();
  Ehlo();
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionTest, HeloAnswersWithHostname) {
  StartSession();
  EXPECT_EQ(Send("HELO client\r\n"), "250 mx.test\r\n");
}

TEST_F(ServerSessionTest, EhloAndHeloNeedAnArgument) {
  StartSession();
  EXPECT_EQ(Send("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(Send("HELO \r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
}

TEST_F(ServerSessionTest, EhloAdvertisesTheConfiguredSize) {
  config_.limits.max_message_bytes = 12345;
  StartSession();
  EXPECT_NE(Send("EHLO x\r\n").find("250-SIZE 12345\r\n"), std::string::npos);
}

TEST_F(ServerSessionTest, WholeTransactionIsStoredByteExact) {
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_TRUE(session_->in_data());
  EXPECT_EQ(Send("Subject: hi\r\n\r\n..dot\r\nline\r\n.\r\n"), "");
  EXPECT_TRUE(session_->waiting());
  ASSERT_EQ(services_.stored.size(), 1u);
  const AcceptedMessage& message = services_.stored[0];
  EXPECT_EQ(message.queue_id, "Q1");
  EXPECT_EQ(message.mail_from, "alice@example.org");
  EXPECT_EQ(message.recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(message.data,
            std::string(kReceivedOneRecipient) + "Subject: hi\r\n\r\n.dot\r\nline\r\n");
  session_->OnStoreResult(std::string("Q1"));
  EXPECT_EQ(session_->TakeOutput(), "250 2.0.0 Ok: queued as Q1\r\n");
  EXPECT_FALSE(session_->waiting());
  EXPECT_FALSE(session_->in_transaction());
  // Ready for the next transaction on the same session.
  EXPECT_EQ(Send("MAIL FROM:<>\r\n"), "250 2.1.0 Ok\r\n");
}

TEST_F(ServerSessionTest, ReceivedHeaderSaysSmtpAfterHeloAndOmitsForWithManyRecipients) {
  StartSession();
  Send("HELO old.example.org\r\nMAIL FROM:<a@example.org>\r\n");
  Send("RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n");
  Send("x\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].data,
            "Received: from old.example.org ([192.0.2.7])\r\n"
            "\tby mx.test (etrnd) with SMTP id Q1; Tue, 02 Dec 2025 04:07:31 +0000\r\n"
            "x\r\n");
  EXPECT_EQ(services_.stored[0].recipients,
            (std::vector<std::string>{"b@example.com", "c@example.net"}));
}

TEST_F(ServerSessionTest, ReceivedHeaderShowsIpv6PeerAsAddressLiteral) {
  session_ = std::make_unique<ServerSession>(
      config_, services_, SocketAddress(IpAddress::Parse("2001:db8::5").value(), 40000));
  session_->Start();
  Send("EHLO h\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].data.rfind("Received: from h ([IPv6:2001:db8::5])\r\n", 0), 0u);
}

// The whole client side of a pipelined session; the glue answers the store
// whenever the session waits.
const std::string kClientTranscript =
    "EHLO client.example.org\r\n"
    "MAIL FROM:<alice@example.org> SIZE=40 BODY=8BITMIME\r\n"
    "RCPT TO:<bob@example.com>\r\n"
    "RCPT TO:<eve@elsewhere.org>\r\n"
    "DATA\r\n"
    "Subject: t\r\n\r\n..stuffed\r\nlast\r\n.\r\n"
    "MAIL FROM:<>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n"
    ".\r\n"
    "ETRN @example.com\r\n"
    "NOOP\r\n"
    "QUIT\r\n";

const std::string kServerTranscript =
    std::string(kGreeting) + std::string(kEhloReply) +
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "554 5.7.1 <eve@elsewhere.org>: Relay access denied\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as Q1\r\n"
    "250 2.1.0 Ok\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as Q2\r\n"
    "253 2.0.0 OK, 1 pending messages for node @example.com started\r\n"
    "250 2.0.0 Ok\r\n"
    "221 2.0.0 Bye\r\n";

// Feeds the chunks; like the glue, answers outstanding results after each.
std::string RunTranscript(FakeServices& services, ServerSession& session,
                          const std::vector<std::string_view>& chunks) {
  std::string output = session.TakeOutput();
  for (std::string_view chunk : chunks) {
    session.OnBytes(chunk);
    output += session.TakeOutput();
    while (session.waiting()) {
      if (services.last_async == "store") {
        session.OnStoreResult(services.stored.back().queue_id);
      } else {
        session.OnEtrnResult("253 2.0.0 OK, 1 pending messages for node @example.com started");
      }
      output += session.TakeOutput();
    }
  }
  return output;
}

TEST_F(ServerSessionTest, PipelinedTranscriptAtEverySplitPosition) {
  for (size_t split = 0; split <= kClientTranscript.size(); ++split) {
    FakeServices services;
    ServerSession session(config_, services,
                          SocketAddress(IpAddress::Parse("192.0.2.7").value(), 40000));
    session.Start();
    const std::string_view t = kClientTranscript;
    const std::string output =
        RunTranscript(services, session, {t.substr(0, split), t.substr(split)});
    ASSERT_EQ(output, kServerTranscript) << "split at " << split;
    ASSERT_EQ(services.stored.size(), 2u);
    EXPECT_EQ(services.stored[0].data.substr(services.stored[0].data.find("\r\n\r\n")),
              "\r\n\r\n.stuffed\r\nlast\r\n");
    EXPECT_EQ(services.etrn_arguments, std::vector<std::string>{"@example.com"});
    EXPECT_TRUE(session.close_requested());
  }
}

TEST_F(ServerSessionTest, PipelinedTranscriptInOneByteChunks) {
  FakeServices services;
  ServerSession session(config_, services,
                        SocketAddress(IpAddress::Parse("192.0.2.7").value(), 40000));
  session.Start();
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < kClientTranscript.size(); ++i) {
    chunks.push_back(std::string_view(kClientTranscript).substr(i, 1));
  }
  EXPECT_EQ(RunTranscript(services, session, chunks), kServerTranscript);
  EXPECT_EQ(services.stored.size(), 2u);
}

TEST_F(ServerSessionTest, PipelinedCommandsWaitForTheStoreResultAndKeepOrder) {
  StartSession();
  OpenTransaction();
  Send("DATA\r\n");
  EXPECT_EQ(Send("body\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"),
            "");
  EXPECT_TRUE(session_->waiting());
  EXPECT_GT(session_->pending_input_bytes(), 0u);
  // More input while waiting is queued too.
  EXPECT_EQ(Send("second\r\n"), "");
  session_->OnStoreResult(std::string("Q1"));
  EXPECT_EQ(session_->TakeOutput(),
            "250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
            "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(session_->pending_input_bytes(), 0u);
  EXPECT_EQ(Send(".\r\n"), "");
  ASSERT_EQ(services_.stored.size(), 2u);
  EXPECT_EQ(services_.stored[1].data.substr(services_.stored[1].data.size() - 8), "second\r\n");
}

TEST_F(ServerSessionTest, StoreAnsweredFromInsideStoreMessageKeepsOrder) {
  services_.store_answers_at_once = true;
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\nx\r\n.\r\nNOOP\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q1\r\n"
            "250 2.0.0 Ok\r\n");
  EXPECT_FALSE(session_->waiting());
}

TEST_F(ServerSessionTest, BytesArrivingFromInsideAServiceCallQueueBehindOlderInput) {
  StartSession();
  OpenTransaction();
  services_.on_store = [this] { session_->OnBytes("HELP\r\n"); };
  EXPECT_EQ(Send("DATA\r\nx\r\n.\r\nVRFY a\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  session_->OnStoreResult(std::string("Q1"));
  EXPECT_EQ(session_->TakeOutput(),
            "250 2.0.0 Ok: queued as Q1\r\n"
            "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP ETRN\r\n");
}

TEST_F(ServerSessionTest, StoreFailuresMapToReplies) {
  StartSession();
  OpenTransaction();
  Send("DATA\r\nx\r\n.\r\n");
  session_->OnStoreResult(absl::ResourceExhaustedError("disk full"));
  EXPECT_EQ(session_->TakeOutput(), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nx\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  session_->OnStoreResult(absl::InternalError("EIO"));
  EXPECT_EQ(session_->TakeOutput(), "451 4.3.0 Error: queue file write error\r\n");
  EXPECT_FALSE(session_->in_transaction());
}

TEST_F(ServerSessionTest, MailWithoutHeloIsAcceptedLikePostfixDefault) {
  StartSession();
  EXPECT_EQ(Send("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<b@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(Send("x\r\n.\r\n"), "");
  EXPECT_EQ(services_.stored.size(), 1u);
  EXPECT_TRUE(services_.stored[0].data.starts_with("Received: from unknown ("));
  // ETRN still needs a greeting (SPEC 6).
  session_->OnStoreResult(std::string("Q1"));
  session_->TakeOutput();
  EXPECT_EQ(Send("ETRN example.com\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
}

TEST_F(ServerSessionTest, CommandOrderErrors) {
  StartSession();
  EXPECT_EQ(Send("RCPT TO:<b@example.com>\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  Ehlo();
  EXPECT_EQ(Send("DATA\r\n"), "503 5.5.1 Error: need MAIL command\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org>\r\n"), "503 5.5.1 Error: nested MAIL command\r\n");
  EXPECT_EQ(Send("DATA\r\n"), "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(Send("RCPT TO:<x@nowhere.org>\r\nDATA\r\n"),
            "554 5.7.1 <x@nowhere.org>: Relay access denied\r\n"
            "554 5.5.1 Error: no valid recipients\r\n");
  EXPECT_EQ(session_->error_count(), 5);
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionTest, BadInputGets5xxAndTheSessionGoesOn) {
  StartSession();
  EXPECT_EQ(Send("FOO bar\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(Send("\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(Send("NOOP\n"), "500 5.5.2 Error: bare <LF> received\r\n");
  EXPECT_EQ(Send(std::string("NO\0OP\r\n", 7)), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(Send("EHLO caf\xc3\xa9\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(Send(std::string(511, 'N') + "\r\n"), "500 5.5.0 Line too long\r\n");
  EXPECT_EQ(Send("NOOPX\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(Send("noop\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionTest, CommandLineOfExactly512OctetsIsAccepted) {
  StartSession();
  const std::string line = "NOOP " + std::string(512 - 7, 'x') + "\r\n";
  ASSERT_EQ(line.size(), 512u);
  EXPECT_EQ(Send(line), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(Send("NOOP " + std::string(512 - 6, 'x') + "\r\n"), "500 5.5.0 Line too long\r\n");
}

TEST_F(ServerSessionTest, OneMebibyteCommandLineWithoutCrlfIsNotBuffered) {
  StartSession();
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 16; ++i) EXPECT_EQ(Send(chunk), "");
  EXPECT_EQ(session_->pending_input_bytes(), 0u);
  EXPECT_EQ(Send("\r\nNOOP\r\n"), "500 5.5.0 Line too long\r\n250 2.0.0 Ok\r\n");
}

TEST_F(ServerSessionTest, TooManyErrorsCloseWith421) {
  config_.limits.max_errors = 3;
  StartSession();
  EXPECT_EQ(Send("A\r\nB\r\nC\r\n"), std::string() +
                                         "500 5.5.2 Error: command not recognized\r\n"
                                         "500 5.5.2 Error: command not recognized\r\n"
                                         "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_FALSE(session_->close_requested());
  EXPECT_EQ(Send("D\r\nNOOP\r\n"),
            "500 5.5.2 Error: command not recognized\r\n"
            "421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_TRUE(session_->close_requested());
  EXPECT_EQ(Send("NOOP\r\n"), "");
}

TEST_F(ServerSessionTest, MailSyntaxAndParameters) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("MAIL TO:<a@example.org>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(Send("MAIL FROM:a@example.org\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@@example.org>\r\n"), "501 5.1.7 Bad sender address syntax\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org> SIZE=10485761\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org> SIZE=big\r\n"), "501 5.5.4 Bad SIZE parameter\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n"),
            "501 5.5.4 Bad BODY parameter\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org> SMTPUTF8\r\n"),
            "555 5.5.4 Unsupported option: SMTPUTF8\r\n");
  EXPECT_FALSE(session_->in_transaction());
  EXPECT_EQ(Send("mail from: <a@example.org> size=10485760 body=7bit\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_TRUE(session_->in_transaction());
}

TEST_F(ServerSessionTest, NullSenderAndSourceRouteAreAccepted) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("MAIL FROM:<>\r\nRSET\r\n"), "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(Send("MAIL FROM:<@relay.example:a@example.org>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<@r1.example,@r2.example:b@example.com>\r\nDATA\r\n.\r\n"),
            "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].mail_from, "a@example.org");
  EXPECT_EQ(services_.stored[0].recipients, std::vector<std::string>{"b@example.com"});
}

TEST_F(ServerSessionTest, RcptChecks) {
  config_.limits.max_recipients = 2;
  StartSession();
  Ehlo();
  Send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(Send("RCPT TO:<>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
  EXPECT_EQ(Send("RCPT TO:<no-domain>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
  EXPECT_EQ(Send("RCPT TO:<a@-bad-.example.com>\r\n"),
            "501 5.1.3 Bad recipient address syntax\r\n");
  EXPECT_EQ(Send("RCPT <a@example.com>\r\n"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  EXPECT_EQ(Send("RCPT TO:<a@example.com> NOTIFY=NEVER\r\n"),
            "555 5.5.4 Unsupported option: NOTIFY\r\n");
  EXPECT_EQ(Send("RCPT TO:<user@relay.org>\r\n"),
            "554 5.7.1 <user@relay.org>: Relay access denied\r\n");
  EXPECT_EQ(Send("rcpt to:<\"quoted user\"@Example.COM>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO: <b@example.net>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<c@example.net>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
  EXPECT_EQ(services_.checked_domains,
            (std::vector<std::string>{"relay.org", "Example.COM", "example.net"}));
}

// RFC 5321 section 4.5.1: <postmaster> (any case, no domain) must be
// accepted; so is postmaster at our own host name. Both go to --postmaster.
TEST_F(ServerSessionTest, PostmasterIsAcceptedAndStoredForThePostmasterAddress) {
  config_.postmaster = "pm@pm.example";
  StartSession();
  Ehlo();
  Send("MAIL FROM:<a@example.org>\r\n");
  EXPECT_EQ(Send("RCPT TO:<PostMaster>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<postmaster@MX.test>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<@relay.example:postmaster>\r\n"), "250 2.1.5 Ok\r\n");
  // Not a domain of ours, not in the table: refused like any other.
  EXPECT_EQ(Send("RCPT TO:<postmaster@relay.org>\r\n"),
            "554 5.7.1 <postmaster@relay.org>: Relay access denied\r\n");
  EXPECT_EQ(Send("RCPT TO:<postmaster@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<postmasterx>\r\n"), "501 5.1.3 Bad recipient address syntax\r\n");
  EXPECT_EQ(Send("DATA\r\n.\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].recipients,
            (std::vector<std::string>{"pm@pm.example", "postmaster@example.com"}));
  // The postmaster is routed like a bounce: never checked against the table.
  EXPECT_EQ(services_.checked_domains, (std::vector<std::string>{"relay.org", "example.com"}));
}

TEST_F(ServerSessionTest, PostmasterDefaultsToPostmasterAtHostname) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\n.\r\n"),
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].recipients, std::vector<std::string>{"postmaster@mx.test"});
  EXPECT_NE(services_.stored[0].data.find("for <postmaster@mx.test>;"), std::string::npos);
  EXPECT_TRUE(services_.checked_domains.empty());
}

// The domain compares case-insensitively, the local part exactly (RFC 5321
// section 2.4: only the destination host may interpret a local part's case).
TEST_F(ServerSessionTest, DuplicateRecipientIsAnswered250AndStoredOnce) {
  config_.limits.max_recipients = 2;
  config_.limits.max_errors = 1;
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("RCPT TO:<bob@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<bob@EXAMPLE.Com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<@r.example:bob@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<Bob@example.com>\r\n"), "250 2.1.5 Ok\r\n");
  // Full, but a duplicate takes no slot.
  EXPECT_EQ(Send("RCPT TO:<carol@example.com>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
  EXPECT_EQ(Send("RCPT TO:<Bob@example.COM>\r\n"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(session_->error_count(), 0);
  EXPECT_EQ(Send("DATA\r\n.\r\n"), "354 End data with <CR><LF>.<CR><LF>\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_EQ(services_.stored[0].recipients,
            (std::vector<std::string>{"bob@example.com", "Bob@example.com"}));
}

TEST_F(ServerSessionTest, DuplicatesAreForgottenWithTheTransaction) {
  services_.store_answers_at_once = true;
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("RCPT TO:<bob@example.com>\r\nDATA\r\n.\r\n"),
            "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
            "250 2.0.0 Ok: queued as Q1\r\n");
  Send("MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 2u);
  EXPECT_EQ(services_.stored[0].recipients, std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(services_.stored[1].recipients, std::vector<std::string>{"bob@example.com"});
  Send(
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.com>\r\nRSET\r\n"
      "MAIL FROM:<a@example.org>\r\nRCPT TO:<carol@example.com>\r\n"
      "RCPT TO:<bob@example.com>\r\nDATA\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 3u);
  EXPECT_EQ(services_.stored[2].recipients,
            (std::vector<std::string>{"carol@example.com", "bob@example.com"}));
}

TEST_F(ServerSessionTest, SourceRouteWithoutMailboxIsNotTheNullPath) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("MAIL FROM:<@a.b:>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_EQ(Send("MAIL FROM:<@a.b,@c.d:>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  EXPECT_FALSE(session_->in_transaction());
  EXPECT_EQ(Send("MAIL FROM:<@a.b:user@c.d>\r\n"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(Send("RCPT TO:<@a.b:>\r\n"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
}

TEST_F(ServerSessionTest, TooManyRecipientsDoesNotCountAsAnError) {
  config_.limits.max_recipients = 1;
  config_.limits.max_errors = 2;
  StartSession();
  OpenTransaction();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Send("RCPT TO:<c@example.net>\r\n"), "452 4.5.3 Error: too many recipients\r\n");
  }
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionTest, SimpleCommands) {
  StartSession();
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(Send("NOOP anything\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(Send("HELP\r\n"),
            "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP ETRN\r\n");
  EXPECT_EQ(Send("VRFY bob\r\n"),
            "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
  EXPECT_EQ(Send("VRFY\r\n"), "501 5.5.4 Syntax: VRFY address\r\n");
  EXPECT_EQ(Send("RSET x\r\n"), "501 5.5.4 Syntax: RSET\r\n");
  EXPECT_EQ(Send("RSET\r\n"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(Send("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(session_->close_requested());
  EXPECT_EQ(Send("NOOP\r\n"), "");
}

TEST_F(ServerSessionTest, RsetAndEhloAbortTheTransaction) {
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("RSET\r\nDATA\r\n"), "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n");
  OpenTransaction();
  EXPECT_TRUE(session_->in_transaction());
  Ehlo();
  EXPECT_FALSE(session_->in_transaction());
}

TEST_F(ServerSessionTest, DataWithArgumentIsASyntaxError) {
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA now\r\n"), "501 5.5.4 Syntax: DATA\r\n");
  EXPECT_FALSE(session_->in_data());
}

TEST_F(ServerSessionTest, EtrnStateChecks) {
  StartSession();
  EXPECT_EQ(Send("ETRN example.com\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  Ehlo();
  EXPECT_EQ(Send("ETRN\r\n"), "501 5.5.4 Syntax: ETRN [@|#]node\r\n");
  EXPECT_EQ(Send("ETRN   \r\n"), "501 5.5.4 Syntax: ETRN [@|#]node\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@example.org>\r\nETRN example.com\r\n"),
            "250 2.1.0 Ok\r\n503 5.5.1 Error: MAIL transaction in progress\r\n");
  EXPECT_TRUE(services_.etrn_arguments.empty());
}

// SPEC 6: a node that is not a valid domain is 501 5.5.4, 8-bit bytes too;
// it is one protocol error, counted once.
TEST_F(ServerSessionTest, EtrnWithEightBitOrControlBytesIs501CountedOnce) {
  config_.limits.max_errors = 3;
  StartSession();
  EXPECT_EQ(Send("ETRN ex\xc3\xa4mple.com\r\n"), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  EXPECT_EQ(session_->error_count(), 1);
  Ehlo();
  const std::string reply = "501 5.5.4 Syntax: ETRN [@|#]node (bad characters)\r\n";
  EXPECT_EQ(Send("ETRN ex\xc3\xa4mple.com\r\n"), reply);
  EXPECT_EQ(session_->error_count(), 2);
  EXPECT_EQ(Send("etrn @\xff.example\tx\r\n"), reply);
  EXPECT_EQ(session_->error_count(), 3);
  EXPECT_FALSE(session_->close_requested());
  EXPECT_TRUE(services_.etrn_arguments.empty());
  EXPECT_EQ(Send(std::string("ETRN a\0b.example\r\n", 18)),
            reply + "421 4.7.0 mx.test Error: too many errors\r\n");
  EXPECT_TRUE(services_.etrn_arguments.empty());
  // Reported to the metrics once each, like any other ETRN reply.
  EXPECT_EQ(services_.etrn_answered, (std::vector<int>{503, 501, 501, 501}));
}

TEST_F(ServerSessionTest, BinaryVerbIsStillBadSyntax) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("ETRN\xc3\xa4 example.com\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(Send("\xc3\xa4"
                 "ETRN example.com\r\n"),
            "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(session_->error_count(), 2);
}

TEST_F(ServerSessionTest, EtrnIsAsynchronousAndPipelinedCommandsWait) {
  StartSession();
  Ehlo();
  EXPECT_EQ(Send("ETRN #Queue-1\r\nNOOP\r\n"), "");
  EXPECT_TRUE(session_->waiting());
  EXPECT_EQ(services_.etrn_arguments, std::vector<std::string>{"#Queue-1"});
  EXPECT_EQ(Send("QUIT\r\n"), "");
  session_->OnEtrnResult("459 4.7.1 Node #Queue-1 not allowed: unknown queue");
  EXPECT_EQ(session_->TakeOutput(),
            "459 4.7.1 Node #Queue-1 not allowed: unknown queue\r\n250 2.0.0 Ok\r\n"
            "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(session_->close_requested());
}

TEST_F(ServerSessionTest, EtrnAfterTransactionAndAnsweredAtOnce) {
  services_.etrn_answer_at_once = "251 2.0.0 OK, no messages waiting for node example.com";
  services_.store_answers_at_once = true;
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\nx\r\n.\r\nETRN example.com\r\nETRN example.com\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q1\r\n"
            "251 2.0.0 OK, no messages waiting for node example.com\r\n"
            "251 2.0.0 OK, no messages waiting for node example.com\r\n");
  EXPECT_EQ(services_.etrn_arguments.size(), 2u);
}

TEST_F(ServerSessionTest, EtrnRepliesDoNotCountAsErrors) {
  config_.limits.max_errors = 1;
  services_.etrn_answer_at_once = "458 4.3.0 Unable to queue messages for node x.example";
  StartSession();
  Ehlo();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Send("ETRN x.example\r\n"),
              "458 4.3.0 Unable to queue messages for node x.example\r\n");
  }
  EXPECT_FALSE(session_->close_requested());
}

TEST_F(ServerSessionTest, BareLfInBodyIsRefusedAtTheEnd) {
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\na\nb\r\n.\r\nNOOP\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n"
            "550 5.6.0 Error: bare <CR> or <LF> in message content\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(services_.stored.empty());
  EXPECT_FALSE(session_->in_transaction());
}

TEST_F(ServerSessionTest, BareCrInBodyIsRefusedAtTheEnd) {
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\na\rb\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n"
            "550 5.6.0 Error: bare <CR> or <LF> in message content\r\n");
  EXPECT_TRUE(services_.stored.empty());
}

TEST_F(ServerSessionTest, NulInBodyIsRefusedAtTheEndAndTheSessionGoesOn) {
  services_.store_answers_at_once = true;
  StartSession();
  OpenTransaction();
  EXPECT_EQ(Send(std::string("DATA\r\nSubject: x\r\n\r\na\0b\r\n.\r\nNOOP\r\n", 34)),
            "354 End data with <CR><LF>.<CR><LF>\r\n"
            "554 5.6.0 Error: message contains NUL characters\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(services_.stored.empty());
  EXPECT_FALSE(session_->in_transaction());
  EXPECT_EQ(session_->error_count(), 1);
  OpenTransaction();
  EXPECT_EQ(Send("DATA\r\nclean\r\n.\r\n"),
            "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as Q2\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
}

TEST_F(ServerSessionTest, LongTextLineIsRefusedNotTruncated) {
  StartSession();
  OpenTransaction();
  Send("DATA\r\n");
  EXPECT_EQ(Send(std::string(999, 'x') + "\r\n.\r\n"),
            "552 5.6.0 Error: message has a line longer than 1000 octets\r\n");
  EXPECT_TRUE(services_.stored.empty());
  OpenTransaction();
  Send("DATA\r\n");
  EXPECT_EQ(Send(std::string(998, 'x') + "\r\n.\r\n"), "");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_NE(services_.stored[0].data.find(std::string(998, 'x') + "\r\n"), std::string::npos);
}

TEST_F(ServerSessionTest, OversizedMessageIsRefusedWith552) {
  config_.limits.max_message_bytes = 100;
  StartSession();
  OpenTransaction();
  Send("DATA\r\n");
  std::string body;
  for (int i = 0; i < 20; ++i) body += "0123456789\r\n";
  EXPECT_EQ(Send(body + ".\r\nNOOP\r\n"),
            "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
  EXPECT_TRUE(services_.stored.empty());
}

TEST_F(ServerSessionTest, SmugglingVariantsDoNotEndData) {
  for (std::string_view end : {"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n"}) {
    FakeServices services;
    ServerSession session(config_, services,
                          SocketAddress(IpAddress::Parse("192.0.2.7").value(), 40000));
    session.Start();
    session.OnBytes("EHLO h\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    session.TakeOutput();
    session.OnBytes(absl::StrCat("x", AsAbsl(end),
                                 "MAIL FROM:<evil@example.org>\r\nRCPT TO:<c@example.com>\r\n"
                                 "DATA\r\nsmuggled\r\n.\r\n"));
    // Only the real <CRLF>.<CRLF> ends the data: one refused message, no
    // replies to the smuggled commands.
    EXPECT_EQ(session.TakeOutput(), "550 5.6.0 Error: bare <CR> or <LF> in message content\r\n")
        << absl::CEscape(AsAbsl(end));
    EXPECT_TRUE(services.stored.empty());
  }
}

TEST_F(ServerSessionTest, IdleTimeoutAndShutdownClose) {
  StartSession();
  session_->OnIdleTimeout();
  EXPECT_EQ(session_->TakeOutput(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_TRUE(session_->close_requested());
  StartSession();
  session_->OnShutdown();
  EXPECT_EQ(session_->TakeOutput(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_TRUE(session_->close_requested());
}

TEST_F(ServerSessionTest, StoreResultAfterCloseIsDropped) {
  StartSession();
  OpenTransaction();
  Send("DATA\r\nx\r\n.\r\n");
  session_->OnShutdown();
  session_->OnStoreResult(std::string("Q1"));
  EXPECT_EQ(session_->TakeOutput(), "421 4.3.2 mx.test Service shutting down\r\n");
}

TEST_F(ServerSessionTest, TooMuchPipelinedInputWhileWaitingCloses) {
  config_.limits.max_pending_input_bytes = 64;
  StartSession();
  OpenTransaction();
  Send("DATA\r\nx\r\n.\r\n");
  EXPECT_EQ(Send(std::string(40, 'a')), "");
  EXPECT_EQ(Send(std::string(40, 'b')), "421 4.7.0 mx.test Error: too much pipelined input\r\n");
  EXPECT_TRUE(session_->close_requested());
  EXPECT_EQ(session_->pending_input_bytes(), 0u);
}

}  // namespace
}  // namespace etrnd::smtp

#include "etrnd/smtp/client_session.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr std::string_view kBody = "Subject: hi\r\n\r\nhello\r\n";
constexpr std::string_view kEhloPlain = "250-mx.test\r\n250 8BITMIME\r\n";
constexpr std::string_view kEhloPipelining = "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";

absl::AlphaNum Piece(std::string_view text) { return absl::AlphaNum(AsAbsl(text)); }
absl::AlphaNum Piece(size_t number) { return absl::AlphaNum(number); }

// absl::StrCat over std::string_view pieces (Debian's abseil has its own
// string_view type).
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  return absl::StrCat(Piece(parts)...);
}

OutboundMessage Message(uint64_t token, std::vector<std::string> recipients,
                        std::string_view data = kBody) {
  return OutboundMessage{
      .token = token, .mail_from = "s@a.test", .recipients = std::move(recipients), .data = data};
}

// "token/index:D|T|B:code" (D delivered, T deferred, B bounced), plus
// "+c" when the failure was connection-level.
std::string Summary(const RecipientOutcome& outcome) {
  const char kind = outcome.kind == RecipientOutcome::kDelivered  ? 'D'
                    : outcome.kind == RecipientOutcome::kDeferred ? 'T'
                                                                  : 'B';
  return absl::StrCat(outcome.token, "/", outcome.recipient_index, ":", std::string(1, kind), ":",
                      outcome.code, outcome.connection_level ? "+c" : "");
}

std::vector<std::string> Summaries(ClientSession& session) {
  std::vector<std::string> out;
  for (const RecipientOutcome& outcome : session.TakeOutcomes()) out.push_back(Summary(outcome));
  return out;
}

std::string Feed(ClientSession& session, std::string_view bytes) {
  session.OnBytes(bytes);
  return session.TakeOutputAsString();
}

// A session past EHLO, with the given EHLO reply and messages.
ClientSession Started(std::string_view ehlo_reply, std::vector<OutboundMessage> messages) {
  ClientSession session("relay.test", 10);
  for (OutboundMessage& message : messages) EXPECT_TRUE(session.Enqueue(std::move(message)));
  EXPECT_EQ(Feed(session, "220 mx.test ESMTP\r\n"), "EHLO relay.test\r\n");
  session.OnBytes(ehlo_reply);
  return session;
}

TEST(ClientSessionTest, LockStepDeliveryOfTwoRecipients) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(7, {"a@b.test", "c@b.test"})));
  EXPECT_EQ(session.TakeOutputAsString(), "");  // nothing before the greeting
  EXPECT_EQ(Feed(session, "220 mx.test ESMTP\r\n"), "EHLO relay.test\r\n");
  EXPECT_EQ(Feed(session, kEhloPlain), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_FALSE(session.pipelining());
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "RCPT TO:<a@b.test>\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "RCPT TO:<c@b.test>\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "DATA\r\n");
  EXPECT_THAT(Summaries(session), IsEmpty());
  EXPECT_EQ(Feed(session, "354 go\r\n"), Cat(kBody, ".\r\n"));
  EXPECT_EQ(Feed(session, "250 2.0.0 queued as X\r\n"), "QUIT\r\n");
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(Summary(outcomes[0]), "7/0:D:250");
  EXPECT_EQ(Summary(outcomes[1]), "7/1:D:250");
  EXPECT_EQ(outcomes[0].reply, "250 2.0.0 queued as X");
  EXPECT_FALSE(session.done());
  session.OnBytes("221 bye\r\n");
  EXPECT_TRUE(session.done());
}

TEST(ClientSessionTest, PipelinedSendsMailRcptsAndDataInOneGroup) {
  ClientSession session = Started(kEhloPipelining, {Message(1, {"a@b.test", "c@b.test"})});
  EXPECT_TRUE(session.pipelining());
  EXPECT_EQ(session.TakeOutputAsString(),
            Cat("MAIL FROM:<s@a.test> SIZE=", kBody.size(),
                "\r\nRCPT TO:<a@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n"));
  EXPECT_EQ(Feed(session, "250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"),
            Cat(kBody, ".\r\n"));
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/1:B:550", "1/0:D:250"));
}

TEST(ClientSessionTest, EhloRefusedFallsBackToHelo) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  Feed(session, "220 old\r\n");
  EXPECT_EQ(Feed(session, "502 what\r\n"), "HELO relay.test\r\n");
  EXPECT_EQ(Feed(session, "250 old\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_FALSE(session.pipelining());
}

TEST(ClientSessionTest, HeloRefusedDefersAndQuits) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  Feed(session, "220 old\r\n");
  Feed(session, "502 what\r\n");
  EXPECT_EQ(Feed(session, "550 go away\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:550+c"));
}

TEST(ClientSessionTest, EhloTransientFailureDefersAndQuits) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  Feed(session, "220 mx\r\n");
  EXPECT_EQ(Feed(session, "451 later\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:451+c"));
  Feed(session, "221 bye\r\n");
  EXPECT_TRUE(session.done());
}

TEST(ClientSessionTest, RefusingGreetingDefersEverythingAndQuits) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  ASSERT_TRUE(session.Enqueue(Message(2, {"d@b.test"})));
  EXPECT_EQ(Feed(session, "554 no service\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:554+c", "1/1:T:554+c", "2/0:T:554+c"));
}

TEST(ClientSessionTest, ServiceClosing421EndsAtOnceWithoutQuit) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"})});
  EXPECT_EQ(session.TakeOutputAsString(), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_EQ(Feed(session, "421 4.3.2 shutting down\r\n"), "");
  EXPECT_TRUE(session.done());
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(Summary(outcomes[0]), "1/0:T:421+c");
  EXPECT_EQ(outcomes[0].reply, "421 4.3.2 shutting down");
}

TEST(ClientSessionTest, MailFailureAppliesToAllRecipientsLockStep) {
  ClientSession session =
      Started(kEhloPlain, {Message(1, {"a@b.test", "c@b.test"}), Message(2, {"d@b.test"})});
  EXPECT_EQ(session.TakeOutputAsString(), "MAIL FROM:<s@a.test>\r\n");
  // No transaction was opened: no RSET, straight to the next message.
  EXPECT_EQ(Feed(session, "452 4.3.1 full\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:452", "1/1:T:452"));
  EXPECT_EQ(Feed(session, "553 5.1.8 bad sender\r\n"), "QUIT\r\n");
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(Summary(outcomes[0]), "2/0:B:553");
  EXPECT_EQ(outcomes[0].reply, "553 5.1.8 bad sender");
}

TEST(ClientSessionTest, MailFailurePipelinedIgnoresFollowingRepliesAndSkipsRset) {
  ClientSession session = Started(kEhloPipelining, {Message(1, {"a@b.test", "c@b.test"})});
  session.TakeOutput();
  EXPECT_EQ(Feed(session,
                 "550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n"
                 "503 5.5.1 no MAIL\r\n503 5.5.1 no valid recipients\r\n"),
            "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:550", "1/1:B:550"));
}

TEST(ClientSessionTest, MixedRecipientOutcomesLockStep) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test", "c@b.test", "e@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  EXPECT_EQ(Feed(session, "550-5.1.1 no such\r\n550 5.1.1 user\r\n"), "RCPT TO:<c@b.test>\r\n");
  EXPECT_EQ(Feed(session, "450 4.2.0 greylisted\r\n"), "RCPT TO:<e@b.test>\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "DATA\r\n");
  Feed(session, "354 go\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "QUIT\r\n");
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(Summary(outcomes[0]), "1/0:B:550");
  EXPECT_EQ(outcomes[0].reply, "550 5.1.1 no such 550 5.1.1 user");
  EXPECT_EQ(Summary(outcomes[1]), "1/1:T:450");
  EXPECT_EQ(Summary(outcomes[2]), "1/2:D:250");
}

TEST(ClientSessionTest, AllRecipientsRefusedLockStepSendsRsetInsteadOfData) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"}), Message(2, {"c@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  EXPECT_EQ(Feed(session, "550 no\r\n"), "RSET\r\n");
  EXPECT_EQ(Feed(session, "250 reset\r\n"), "MAIL FROM:<s@a.test>\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:550"));
}

TEST(ClientSessionTest, AllRecipientsRefusedPipelinedDataRefused) {
  ClientSession session = Started(kEhloPipelining, {Message(1, {"a@b.test", "c@b.test"})});
  session.TakeOutput();
  EXPECT_EQ(Feed(session, "250 ok\r\n550 no\r\n451 later\r\n554 5.5.1 no valid recipients\r\n"),
            "RSET\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:550", "1/1:T:451"));
}

TEST(ClientSessionTest, AllRecipientsRefusedPipelinedDataAcceptedSendsEmptyBody) {
  // RFC 2920 3.1: the server may answer 354 anyway; end with a lone dot.
  ClientSession session = Started(kEhloPipelining, {Message(1, {"a@b.test"})});
  session.TakeOutput();
  EXPECT_EQ(Feed(session, "250 ok\r\n550 no\r\n354 go\r\n"), ".\r\n");
  EXPECT_EQ(Feed(session, "554 no valid recipients\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:550"));
}

TEST(ClientSessionTest, DataRefusedAppliesToAcceptedRecipientsAndResets) {
  ClientSession session =
      Started(kEhloPlain, {Message(1, {"a@b.test", "c@b.test"}), Message(2, {"d@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  Feed(session, "250 ok\r\n");
  Feed(session, "550 no\r\n");
  EXPECT_EQ(Feed(session, "451 4.3.0 try later\r\n"), "RSET\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/1:B:550", "1/0:T:451"));
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "MAIL FROM:<s@a.test>\r\n");
}

TEST(ClientSessionTest, FinalDotFailuresThenNextMessageWithoutRset) {
  ClientSession session =
      Started(kEhloPipelining,
              {Message(1, {"a@b.test"}), Message(2, {"c@b.test"}), Message(3, {"d@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(Feed(session, "552 5.3.4 too big\r\n"),
            Cat("MAIL FROM:<s@a.test> SIZE=", kBody.size(), "\r\nRCPT TO:<c@b.test>\r\nDATA\r\n"));
  Feed(session, "250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_THAT(Feed(session, "452 4.3.1 disk full\r\n"), ::testing::StartsWith("MAIL FROM"));
  Feed(session, "250 ok\r\n250 ok\r\n354 go\r\n");
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:552", "2/0:T:452", "3/0:D:250"));
}

TEST(ClientSessionTest, RsetFailureDefersTheRestAndQuits) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"}), Message(2, {"c@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  Feed(session, "550 no\r\n");
  EXPECT_EQ(Feed(session, "500 huh\r\n"), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:550", "2/0:T:500+c"));
}

TEST(ClientSessionTest, ConnectionLostMidDataDefersUnfinished) {
  ClientSession session =
      Started(kEhloPlain, {Message(1, {"a@b.test", "c@b.test"}), Message(2, {"d@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  Feed(session, "550 no\r\n");
  Feed(session, "250 ok\r\n");
  EXPECT_EQ(Feed(session, "354 go\r\n"), Cat(kBody, ".\r\n"));
  session.OnConnectionLost();
  EXPECT_TRUE(session.done());
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(Summary(outcomes[0]), "1/0:B:550");
  EXPECT_EQ(Summary(outcomes[1]), "1/1:T:0+c");
  EXPECT_EQ(outcomes[1].reply, "connection lost while sending the message body");
  EXPECT_EQ(Summary(outcomes[2]), "2/0:T:0+c");
  EXPECT_EQ(session.TakeOutputAsString(), "");
}

TEST(ClientSessionTest, TimeoutWaitingForGreetingDefersAll) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  EXPECT_EQ(session.reply_timeout(), absl::Minutes(5));
  session.OnTimeout();
  EXPECT_TRUE(session.done());
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].reply, "timeout while waiting for the greeting");
  EXPECT_EQ(session.reply_timeout(), absl::InfiniteDuration());
}

TEST(ClientSessionTest, FailedConnectDefersAllWithTheReason) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  session.OnConnectFailed("Connection refused");
  EXPECT_TRUE(session.done());
  const std::vector<RecipientOutcome> outcomes = session.TakeOutcomes();
  ASSERT_EQ(outcomes.size(), 2u);
  for (const RecipientOutcome& outcome : outcomes) {
    EXPECT_EQ(outcome.kind, RecipientOutcome::kDeferred);
    EXPECT_TRUE(outcome.connection_level);
    EXPECT_EQ(outcome.reply, "connect failed: Connection refused");
  }
  EXPECT_EQ(session.TakeOutputAsString(), "");
}

TEST(ClientSessionTest, ConnectionLostAfterQuitIsClean) {
  ClientSession session = Started(kEhloPlain, {});
  EXPECT_EQ(session.TakeOutputAsString(), "QUIT\r\n");
  session.OnConnectionLost();
  EXPECT_TRUE(session.done());
  EXPECT_THAT(Summaries(session), IsEmpty());
}

TEST(ClientSessionTest, MalformedReplyFailsTheSession) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"})});
  session.TakeOutput();
  EXPECT_EQ(Feed(session, "hello there\r\n"), "");
  EXPECT_TRUE(session.done());
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:0+c"));
}

TEST(ClientSessionTest, DataAnsweredWithoutContinueDefers) {
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"})});
  session.TakeOutput();
  Feed(session, "250 ok\r\n250 extra\r\n250 extra\r\n");
  // MAIL and RCPT answered, then DATA answered 250 (not 354): deferred, RSET.
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:250"));
}

TEST(ClientSessionTest, UnsolicitedReplyFailsTheSession) {
  ClientSession session(ClientSession::Options{
      .helo_hostname = "relay.test", .max_messages_per_connection = 5, .quit_when_idle = false});
  Feed(session, Cat("220 mx\r\n", kEhloPlain));
  ASSERT_TRUE(session.idle_waiting_for_more());
  session.OnBytes("250 surprise\r\n");
  EXPECT_TRUE(session.done());
}

TEST(ClientSessionTest, DotStuffsTheBody) {
  constexpr std::string_view kDotty = ".top\r\n..\r\nmid.dle\r\n.\r\n";
  ClientSession session = Started(kEhloPlain, {Message(1, {"a@b.test"}, kDotty)});
  session.TakeOutput();
  Feed(session, "250 ok\r\n");
  Feed(session, "250 ok\r\n");
  EXPECT_EQ(Feed(session, "354 go\r\n"), "..top\r\n...\r\nmid.dle\r\n..\r\n.\r\n");
}

TEST(ClientSessionTest, BodyChunksBorrowTheCallersBuffer) {
  const std::string body(100000, 'x');
  const std::string data = body + "\r\n";
  ClientSession session = Started(kEhloPipelining, {Message(1, {"a@b.test"}, data)});
  session.TakeOutput();
  session.OnBytes("250 ok\r\n250 ok\r\n354 go\r\n");
  const std::vector<OutputChunk> chunks = session.TakeOutput();
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].bytes().data(), data.data());
  EXPECT_EQ(chunks[1].bytes(), ".\r\n");
}

TEST(ClientSessionTest, MessageLimitPerConnection) {
  ClientSession session("relay.test", 2);
  EXPECT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  EXPECT_TRUE(session.Enqueue(Message(2, {"a@b.test"})));
  EXPECT_FALSE(session.Enqueue(Message(3, {"a@b.test"})));
}

TEST(ClientSessionTest, IdleSessionWaitsForMoreThenQuits) {
  ClientSession session(ClientSession::Options{
      .helo_hostname = "relay.test", .max_messages_per_connection = 5, .quit_when_idle = false});
  Feed(session, "220 mx\r\n");
  EXPECT_EQ(Feed(session, kEhloPlain), "");
  EXPECT_TRUE(session.idle_waiting_for_more());
  EXPECT_EQ(session.reply_timeout(), absl::InfiniteDuration());
  ASSERT_TRUE(session.Enqueue(Message(4, {"a@b.test"})));
  EXPECT_FALSE(session.idle_waiting_for_more());
  EXPECT_EQ(session.TakeOutputAsString(), "MAIL FROM:<s@a.test>\r\n");
  Feed(session, "250 ok\r\n");
  Feed(session, "250 ok\r\n");
  EXPECT_EQ(session.reply_timeout(), absl::Minutes(2));  // DATA initiation
  Feed(session, "354 go\r\n");
  EXPECT_EQ(session.reply_timeout(), absl::Minutes(10));  // DATA termination
  EXPECT_EQ(Feed(session, "250 ok\r\n"), "");
  EXPECT_TRUE(session.idle_waiting_for_more());
  session.Quit();
  EXPECT_EQ(session.TakeOutputAsString(), "QUIT\r\n");
  EXPECT_FALSE(session.Enqueue(Message(5, {"a@b.test"})));
  EXPECT_THAT(Summaries(session), ElementsAre("4/0:D:250"));
}

TEST(ClientSessionTest, QuitBeforeStartDefersQueuedMessages) {
  ClientSession session("relay.test", 5);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test"})));
  session.Quit();
  Feed(session, "220 mx\r\n");
  EXPECT_EQ(Feed(session, kEhloPlain), "QUIT\r\n");
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:T:0+c"));
}

TEST(ClientSessionTest, UnsafeAddressesAreNeverSent) {
  ClientSession session =
      Started(kEhloPipelining, {Message(1, {"a@b.test>\r\nRCPT TO:<x@evil.test", "ok@b.test"})});
  EXPECT_EQ(session.TakeOutputAsString(),
            Cat("MAIL FROM:<s@a.test> SIZE=", kBody.size(), "\r\nRCPT TO:<ok@b.test>\r\nDATA\r\n"));
  EXPECT_THAT(Summaries(session), ElementsAre("1/0:B:0"));
}

// The whole server side of a dialogue, fed in two pieces split at every
// position (and byte by byte), gives the same output and outcomes.
struct Transcript {
  std::string server_bytes;
};

void ExpectSplitInvariant(const Transcript& transcript) {
  auto run = [&](const std::vector<std::string_view>& pieces) {
    ClientSession session("relay.test", 10);
    EXPECT_TRUE(session.Enqueue(Message(1, {"a@b.test", "c@b.test"})));
    EXPECT_TRUE(session.Enqueue(Message(2, {"d@b.test"}, ".dot\r\n")));
    std::string output;
    for (std::string_view piece : pieces) output += Feed(session, piece);
    std::vector<std::string> outcomes = Summaries(session);
    outcomes.push_back(session.done() ? "done" : "open");
    return std::make_pair(output, outcomes);
  };
  const std::string_view all = transcript.server_bytes;
  const auto expected = run({all});
  EXPECT_EQ(expected.second.back(), "done");
  for (size_t split = 0; split <= all.size(); ++split) {
    EXPECT_EQ(run({all.substr(0, split), all.substr(split)}), expected) << "split " << split;
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
  EXPECT_EQ(run(bytes), expected);
}

TEST(ClientSessionTest, SplitRepliesAtEveryPositionLockStep) {
  ExpectSplitInvariant(
      {.server_bytes = Cat("220-mx.test\r\n220 ESMTP\r\n", kEhloPlain,
                           "250 ok\r\n250-ok\r\n250 ok\r\n550-no\r\n550 such\r\n354 go\r\n"
                           "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n451 later\r\n"
                           "221 bye\r\n")});
}

TEST(ClientSessionTest, SplitRepliesAtEveryPositionPipelined) {
  ExpectSplitInvariant(
      {.server_bytes = Cat("220 mx.test\r\n", kEhloPipelining,
                           "250 ok\r\n250 ok\r\n550-no\r\n550 such\r\n354 go\r\n250 ok\r\n"
                           "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n")});
}

TEST(ClientSessionTest, LockStepTranscriptOutcomesAreRight) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  ASSERT_TRUE(session.Enqueue(Message(2, {"d@b.test"}, ".dot\r\n")));
  Feed(session, Cat("220 mx.test\r\n", kEhloPlain,
                    "250 ok\r\n250-ok\r\n250 ok\r\n550-no\r\n550 such\r\n354 go\r\n"
                    "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n451 later\r\n221 bye\r\n"));
  EXPECT_THAT(Summaries(session), ElementsAre("1/1:B:550", "1/0:D:250", "2/0:T:451"));
  EXPECT_TRUE(session.done());
}

TEST(ClientSessionTest, SplitTranscriptOutcomesAreRight) {
  ClientSession session("relay.test", 10);
  ASSERT_TRUE(session.Enqueue(Message(1, {"a@b.test", "c@b.test"})));
  ASSERT_TRUE(session.Enqueue(Message(2, {"d@b.test"}, ".dot\r\n")));
  const std::string output =
      Feed(session, Cat("220 mx.test\r\n", kEhloPipelining,
                        "250 ok\r\n250 ok\r\n550-no\r\n550 such\r\n354 go\r\n250 ok\r\n"
                        "250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n221 bye\r\n"));
  EXPECT_THAT(output, ::testing::HasSubstr("\r\n..dot\r\n.\r\nQUIT\r\n"));
  EXPECT_THAT(Summaries(session), UnorderedElementsAre("1/0:D:250", "1/1:B:550", "2/0:D:250"));
  EXPECT_TRUE(session.done());
}

}  // namespace
}  // namespace etrnd::smtp

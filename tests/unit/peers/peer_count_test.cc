#include "etrnd/peers/peer_count.h"

#include "gtest/gtest.h"

namespace etrnd::peers {
namespace {

smtp::SmtpReply Reply(int code, std::vector<std::string> lines) {
  smtp::SmtpReply reply;
  reply.code = code;
  reply.lines = std::move(lines);
  return reply;
}

TEST(PeerReplyCountTest, ReadsTheCountOfA253) {
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, 17 pending messages for node example.com "
                                       "started"})),
            17u);
  // Without the enhanced code (RFC 1985's own wording).
  EXPECT_EQ(PeerReplyCount(Reply(253, {"OK, 3 pending messages for node x.test started"})), 3u);
  // Only the last line of a multi-line reply carries it.
  EXPECT_EQ(PeerReplyCount(Reply(253, {"first", "2.0.0 OK, 4 pending messages"})), 4u);
}

TEST(PeerReplyCountTest, OtherRepliesCountNothing) {
  EXPECT_EQ(PeerReplyCount(Reply(251, {"2.0.0 OK, no messages waiting for node x.test"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(458, {"4.3.0 Unable to queue messages for node x.test"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(459, {"4.7.1 Node x.test not allowed: not served here"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(250, {"2.0.0 OK, 5 pending messages"})), 0u);
}

TEST(PeerReplyCountTest, MalformedCountsAreZero) {
  EXPECT_EQ(PeerReplyCount(Reply(253, {})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, many pending messages"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, -5 pending messages"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, 12"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 Queuing started"})), 0u);
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, 12345678901234567890 pending messages"})), 0u);
}

TEST(PeerReplyCountTest, HugeClaimsAreCapped) {
  EXPECT_EQ(PeerReplyCount(Reply(253, {"2.0.0 OK, 999999999999999 pending messages"})),
            kPeerCountMax);
}

TEST(CombinedReplyTest, LocalPlusPeersDecide253Or251) {
  EXPECT_EQ(CombinedReply({.local_messages = 2, .peer_messages = 5}, "example.com"),
            "253 2.0.0 OK, 7 pending messages for node example.com started");
  // This node holds nothing, a peer does: still 253 with the peer's count.
  EXPECT_EQ(CombinedReply({.local_messages = 0, .peer_messages = 4}, "@example.com"),
            "253 2.0.0 OK, 4 pending messages for node @example.com started");
  EXPECT_EQ(CombinedReply({.local_messages = 3, .peer_messages = 0}, "#q"),
            "253 2.0.0 OK, 3 pending messages for node #q started");
  EXPECT_EQ(CombinedReply({}, "example.com"),
            "251 2.0.0 OK, no messages waiting for node example.com");
}

TEST(CombinedReplyTest, LocalRefusalStandsOnlyWhenPeersHaveNothing) {
  EXPECT_EQ(CombinedReply({.local_refused_for_resources = true}, "example.com"),
            "458 4.3.0 Unable to queue messages for node example.com");
  EXPECT_EQ(CombinedReply({.local_refused_for_resources = true, .peer_messages = 2}, "example.com"),
            "253 2.0.0 OK, 2 pending messages for node example.com started");
}

}  // namespace
}  // namespace etrnd::peers

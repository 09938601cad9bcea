#include "etrnd/blaster/reply_parser.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

TEST(ReplyParserTest, SingleLineReply) {
  ReplyParser parser;
  parser.Feed("250 2.0.0 Ok\r\n");
  Reply reply;
  ASSERT_EQ(parser.Next(&reply), ReplyParser::Result::kReply);
  EXPECT_EQ(reply.code, 250);
  ASSERT_EQ(reply.lines.size(), 1u);
  EXPECT_EQ(reply.lines[0], "2.0.0 Ok");
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kNeedMore);
}

TEST(ReplyParserTest, MultiLineEhloSplitAtEveryByte) {
  const std::string text =
      "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n354 go\r\n";
  ReplyParser parser;
  std::vector<Reply> replies;
  for (char c : text) {
    parser.Feed(std::string_view(&c, 1));
    Reply reply;
    while (parser.Next(&reply) == ReplyParser::Result::kReply) replies.push_back(reply);
  }
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].code, 250);
  EXPECT_EQ(replies[0].lines.size(), 4u);
  EXPECT_TRUE(replies[0].HasExtension("pipelining"));
  EXPECT_TRUE(replies[0].HasExtension("SIZE"));
  EXPECT_FALSE(replies[0].HasExtension("mx.example"));  // the greeting line
  EXPECT_FALSE(replies[0].HasExtension("ETRN"));
  EXPECT_EQ(replies[1].code, 354);
}

TEST(ReplyParserTest, BareLfAndCodeWithoutText) {
  ReplyParser parser;
  parser.Feed("220\n221 bye\n");
  Reply reply;
  ASSERT_EQ(parser.Next(&reply), ReplyParser::Result::kReply);
  EXPECT_EQ(reply.code, 220);
  EXPECT_EQ(reply.lines[0], "");
  ASSERT_EQ(parser.Next(&reply), ReplyParser::Result::kReply);
  EXPECT_EQ(reply.code, 221);
}

TEST(ReplyParserTest, RejectsGarbage) {
  ReplyParser parser;
  parser.Feed("HTTP/1.1 400 Bad Request\r\n");
  Reply reply;
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kError);
  EXPECT_FALSE(parser.error().empty());
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kError);  // sticky
}

TEST(ReplyParserTest, RejectsCodeChangeInsideMultiLine) {
  ReplyParser parser;
  parser.Feed("250-a\r\n251 b\r\n");
  Reply reply;
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kError);
}

TEST(ReplyParserTest, RejectsOverlongLineEvenWithoutNewline) {
  ReplyParser parser;
  parser.Feed("250 " + std::string(ReplyParser::kMaxLineBytes + 10, 'x'));
  Reply reply;
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kError);
}

TEST(ReplyParserTest, BoundsTheNumberOfLines) {
  ReplyParser parser;
  std::string text;
  for (size_t i = 0; i <= ReplyParser::kMaxLines; ++i) text += "250-x\r\n";
  parser.Feed(text);
  Reply reply;
  EXPECT_EQ(parser.Next(&reply), ReplyParser::Result::kError);
}

}  // namespace
}  // namespace etrnd::blaster

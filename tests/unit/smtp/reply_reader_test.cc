#include "etrnd/smtp/reply_reader.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

TEST(ReplyReaderTest, SingleLine) {
  ReplyReader reader;
  std::string_view input = "250 2.1.0 Ok\r\n";
  SmtpReply reply;
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  EXPECT_EQ(reply.code, 250);
  EXPECT_EQ(reply.Text(), "250 2.1.0 Ok");
  EXPECT_TRUE(input.empty());
}

TEST(ReplyReaderTest, MultiLineKeepsEveryLine) {
  ReplyReader reader;
  std::string_view input = "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n";
  SmtpReply reply;
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  ASSERT_EQ(reply.lines.size(), 3u);
  EXPECT_EQ(reply.lines[1], "PIPELINING");
  EXPECT_EQ(reply.lines[2], "SIZE 100");
  EXPECT_EQ(reply.Text(), "250 mx.example 250 PIPELINING 250 SIZE 100");
}

TEST(ReplyReaderTest, StopsAfterOneReplyLeavingTheRest) {
  ReplyReader reader;
  std::string_view input = "250 a\r\n354 go\r\n";
  SmtpReply reply;
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  EXPECT_EQ(input, "354 go\r\n");
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  EXPECT_EQ(reply.code, 354);
}

TEST(ReplyReaderTest, CodeOnlyAndBareLf) {
  ReplyReader reader;
  std::string_view input = "221\n";
  SmtpReply reply;
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  EXPECT_EQ(reply.code, 221);
  EXPECT_EQ(reply.Text(), "221");
}

TEST(ReplyReaderTest, SplitAtEveryByte) {
  const std::string whole = "550-first\r\n550-second\r\n550 5.1.1 last\r\n";
  for (size_t split = 0; split <= whole.size(); ++split) {
    ReplyReader reader;
    SmtpReply reply;
    std::string_view head = std::string_view(whole).substr(0, split);
    std::string_view tail = std::string_view(whole).substr(split);
    ReplyReader::Result result = reader.Read(&head, &reply);
    if (result == ReplyReader::Result::kNeedMore) result = reader.Read(&tail, &reply);
    ASSERT_EQ(result, ReplyReader::Result::kReply) << split;
    EXPECT_EQ(reply.code, 550);
    EXPECT_EQ(reply.lines.size(), 3u) << split;
  }
}

TEST(ReplyReaderTest, RejectsGarbage) {
  for (std::string_view bad : {"hello\r\n", "25\r\n", "650 x\r\n", "250x\r\n"}) {
    ReplyReader reader;
    SmtpReply reply;
    std::string_view input = bad;
    EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError) << bad;
  }
}

TEST(ReplyReaderTest, BoundsLineLengthAndLineCount) {
  {
    ReplyReader reader;
    SmtpReply reply;
    std::string line = "250 " + std::string(kReplyLineBytesMax, 'x');
    std::string_view input = line;
    EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError);
  }
  {
    ReplyReader reader;
    SmtpReply reply;
    std::string many;
    for (size_t i = 0; i <= kReplyLinesMax; ++i) many += "250-x\r\n";
    std::string_view input = many;
    EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError);
  }
}

// From smtp-blaster's former reply parser: replies fed one byte at a time
// come out whole and in order; the EHLO keywords are found.
TEST(ReplyReaderTest, MultiLineEhloFedOneByteAtATime) {
  const std::string text =
      "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n354 go\r\n";
  ReplyReader reader;
  std::vector<SmtpReply> replies;
  for (const char c : text) {
    std::string_view input(&c, 1);
    SmtpReply reply;
    while (!input.empty()) {
      const ReplyReader::Result result = reader.Read(&input, &reply);
      ASSERT_NE(result, ReplyReader::Result::kError);
      if (result == ReplyReader::Result::kReply) replies.push_back(reply);
    }
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

TEST(ReplyReaderTest, ErrorsAreStickyAndSayWhy) {
  ReplyReader reader;
  SmtpReply reply;
  std::string_view input = "HTTP/1.1 400 Bad Request\r\n";
  EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError);
  EXPECT_STRNE(reader.error(), "");
  std::string_view good = "250 ok\r\n";
  EXPECT_EQ(reader.Read(&good, &reply), ReplyReader::Result::kError);
}

TEST(ReplyReaderTest, RejectsCodeChangeInsideMultiLine) {
  ReplyReader reader;
  SmtpReply reply;
  std::string_view input = "250-a\r\n251 b\r\n";
  EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError);
  EXPECT_STREQ(reader.error(), "code changed inside a multi-line reply");
}

TEST(ReplyReaderTest, RejectsOverlongLineEvenWithoutNewline) {
  ReplyReader reader;
  SmtpReply reply;
  const std::string partial = "250 " + std::string(kReplyLineBytesMax + 10, 'x');
  std::string_view input = partial;
  EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kError);
}

TEST(ReplyReaderTest, HasPartialReplyTellsBytesAfterTheLastReply) {
  ReplyReader reader;
  SmtpReply reply;
  std::string_view input = "220 go ahead\r\n25";
  ASSERT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kReply);
  EXPECT_FALSE(reader.has_partial_reply());
  EXPECT_EQ(reader.Read(&input, &reply), ReplyReader::Result::kNeedMore);
  EXPECT_TRUE(reader.has_partial_reply());
}

}  // namespace
}  // namespace etrnd::smtp

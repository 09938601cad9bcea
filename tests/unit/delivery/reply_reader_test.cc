#include "etrnd/delivery/reply_reader.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::delivery {
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
  const std::string whole = "250-first\r\n250-second\r\n550 5.1.1 last\r\n";
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

}  // namespace
}  // namespace etrnd::delivery

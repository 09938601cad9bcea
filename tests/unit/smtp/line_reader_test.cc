#include "etrnd/smtp/line_reader.h"

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

// What the reader reported, in order: a line's text (with "|LF" appended
// for a bare LF) or "<too long>".
std::vector<std::string> FeedChunks(LineReader& reader, const std::vector<std::string>& chunks) {
  std::vector<std::string> events;
  for (const std::string& chunk : chunks) {
    std::string_view in = chunk;
    while (!in.empty()) {
      size_t consumed = 0;
      Line line;
      LineReader::Result result = reader.Parse(in, &consumed, &line);
      EXPECT_GT(consumed, 0u);
      EXPECT_LE(consumed, in.size());
      in.remove_prefix(consumed);
      if (result == LineReader::Result::kLine) {
        events.push_back(std::string(line.text) + (line.bare_lf ? "|LF" : ""));
      } else if (result == LineReader::Result::kTooLong) {
        events.push_back("<too long>");
      } else {
        EXPECT_TRUE(in.empty());
      }
    }
  }
  return events;
}

std::vector<std::string> Feed(std::string_view input, size_t max_line_bytes = 512) {
  LineReader reader(max_line_bytes);
  return FeedChunks(reader, {std::string(input)});
}

const std::string kPipelinedTranscript =
    "EHLO client.example.org\r\n"
    "MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME\r\n"
    "RCPT TO:<bob@example.com>\r\n"
    "RCPT TO:<carol@example.com>\r\n"
    "DATA\r\n"
    "\r\n"
    "NOOP\n"
    "QUIT\r\n";

const std::vector<std::string> kPipelinedLines = {
    "EHLO client.example.org",
    "MAIL FROM:<alice@example.org> SIZE=1234 BODY=8BITMIME",
    "RCPT TO:<bob@example.com>",
    "RCPT TO:<carol@example.com>",
    "DATA",
    "",
    "NOOP|LF",
    "QUIT",
};

TEST(LineReaderTest, SplitsPipelinedCommands) {
  EXPECT_EQ(Feed(kPipelinedTranscript), kPipelinedLines);
}

TEST(LineReaderTest, EverySplitPositionGivesTheSameLines) {
  for (size_t split = 0; split <= kPipelinedTranscript.size(); ++split) {
    LineReader reader;
    auto events = FeedChunks(
        reader, {kPipelinedTranscript.substr(0, split), kPipelinedTranscript.substr(split)});
    EXPECT_EQ(events, kPipelinedLines) << "split at " << split;
  }
}

TEST(LineReaderTest, EveryPairOfSplitPositionsGivesTheSameLines) {
  const std::string& t = kPipelinedTranscript;
  for (size_t a = 0; a <= t.size(); ++a) {
    for (size_t b = a; b <= t.size(); ++b) {
      LineReader reader;
      auto events = FeedChunks(reader, {t.substr(0, a), t.substr(a, b - a), t.substr(b)});
      ASSERT_EQ(events, kPipelinedLines) << "splits at " << a << " and " << b;
    }
  }
}

TEST(LineReaderTest, OneByteChunksGiveTheSameLines) {
  std::vector<std::string> chunks;
  for (char c : kPipelinedTranscript) chunks.push_back(std::string(1, c));
  LineReader reader;
  EXPECT_EQ(FeedChunks(reader, chunks), kPipelinedLines);
}

TEST(LineReaderTest, LineInsideInputPointsIntoInput) {
  LineReader reader;
  const std::string input = "NOOP\r\nQUIT\r\n";
  size_t consumed = 0;
  Line line;
  ASSERT_EQ(reader.Parse(input, &consumed, &line), LineReader::Result::kLine);
  EXPECT_EQ(consumed, 6u);
  EXPECT_EQ(line.text, "NOOP");
  EXPECT_EQ(line.text.data(), input.data());
  ASSERT_EQ(reader.Parse(std::string_view(input).substr(6), &consumed, &line),
            LineReader::Result::kLine);
  EXPECT_EQ(line.text.data(), input.data() + 6);
  EXPECT_FALSE(line.bare_lf);
}

TEST(LineReaderTest, SplitLineIsAssembledAndLaterLinesAreZeroCopyAgain) {
  LineReader reader;
  size_t consumed = 0;
  Line line;
  const std::string first = "NO";
  ASSERT_EQ(reader.Parse(first, &consumed, &line), LineReader::Result::kNeedMore);
  EXPECT_EQ(consumed, 2u);
  EXPECT_TRUE(reader.has_partial_line());
  const std::string second = "OP\r\nRSET\r\n";
  ASSERT_EQ(reader.Parse(second, &consumed, &line), LineReader::Result::kLine);
  EXPECT_EQ(line.text, "NOOP");
  EXPECT_EQ(consumed, 4u);
  EXPECT_FALSE(reader.has_partial_line());
  ASSERT_EQ(reader.Parse(std::string_view(second).substr(4), &consumed, &line),
            LineReader::Result::kLine);
  EXPECT_EQ(line.text, "RSET");
  EXPECT_EQ(line.text.data(), second.data() + 4);
}

TEST(LineReaderTest, CrlfSplitBetweenChunks) {
  LineReader reader;
  EXPECT_EQ(FeedChunks(reader, {"HELO x\r", "\nQUIT\r", "\n"}),
            (std::vector<std::string>{"HELO x", "QUIT"}));
}

TEST(LineReaderTest, BareLfIsALineEndButReported) {
  EXPECT_EQ(Feed("A\nB\r\n\n"), (std::vector<std::string>{"A|LF", "B", "|LF"}));
}

TEST(LineReaderTest, LoneCrIsPartOfTheLine) {
  EXPECT_EQ(Feed("A\rB\r\n"), (std::vector<std::string>{"A\rB"}));
}

TEST(LineReaderTest, LimitCountsCrlf) {
  const std::string fits = std::string(510, 'x') + "\r\n";   // 512 octets
  const std::string over = std::string(511, 'x') + "\r\n";   // 513 octets
  const std::string fits_lf = std::string(511, 'x') + "\n";  // 512 octets
  EXPECT_EQ(Feed(fits), (std::vector<std::string>{std::string(510, 'x')}));
  EXPECT_EQ(Feed(over), (std::vector<std::string>{"<too long>"}));
  EXPECT_EQ(Feed(fits_lf), (std::vector<std::string>{std::string(511, 'x') + "|LF"}));
}

TEST(LineReaderTest, LimitHoldsAtEverySplitPosition) {
  const std::string input =
      "NOOP\r\n" + std::string(510, 'a') + "\r\n" + std::string(511, 'b') + "\r\nQUIT\r\n";
  const std::vector<std::string> expected = {"NOOP", std::string(510, 'a'), "<too long>", "QUIT"};
  for (size_t split = 0; split <= input.size(); ++split) {
    LineReader reader;
    EXPECT_EQ(FeedChunks(reader, {input.substr(0, split), input.substr(split)}), expected)
        << "split at " << split;
  }
}

TEST(LineReaderTest, OverlongLineIsDiscardedUpToItsEnd) {
  EXPECT_EQ(Feed(std::string(2000, 'x') + "\r\nNOOP\r\n"),
            (std::vector<std::string>{"<too long>", "NOOP"}));
}

TEST(LineReaderTest, OneMebibyteLineWithoutCrlfIsNotBuffered) {
  LineReader reader;
  const std::string chunk(4096, 'x');
  size_t consumed = 0;
  Line line;
  for (int i = 0; i < 256; ++i) {  // 1 MiB in total
    ASSERT_EQ(reader.Parse(chunk, &consumed, &line), LineReader::Result::kNeedMore);
    ASSERT_EQ(consumed, chunk.size());
  }
  EXPECT_TRUE(reader.has_partial_line());
  const std::string tail = "yyy\r\nNOOP\r\n";
  ASSERT_EQ(reader.Parse(tail, &consumed, &line), LineReader::Result::kTooLong);
  EXPECT_EQ(consumed, 5u);
  ASSERT_EQ(reader.Parse(std::string_view(tail).substr(5), &consumed, &line),
            LineReader::Result::kLine);
  EXPECT_EQ(line.text, "NOOP");
}

TEST(LineReaderTest, OneMebibyteLineInOneChunkIsReportedOnce) {
  EXPECT_EQ(Feed(std::string(1 << 20, 'x') + "\r\nQUIT\r\n"),
            (std::vector<std::string>{"<too long>", "QUIT"}));
}

TEST(LineReaderTest, ResetForgetsThePartialLine) {
  LineReader reader;
  size_t consumed = 0;
  Line line;
  reader.Parse("garbage", &consumed, &line);
  reader.Reset();
  EXPECT_FALSE(reader.has_partial_line());
  ASSERT_EQ(reader.Parse("QUIT\r\n", &consumed, &line), LineReader::Result::kLine);
  EXPECT_EQ(line.text, "QUIT");
}

TEST(LineReaderTest, EmptyInputNeedsMore) {
  LineReader reader;
  size_t consumed = 7;
  Line line;
  EXPECT_EQ(reader.Parse("", &consumed, &line), LineReader::Result::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

TEST(LineReaderTest, NulIsPassedThroughForTheSessionToRefuse) {
  const std::string input("NO\0OP\r\n", 7);
  EXPECT_EQ(Feed(input), (std::vector<std::string>{std::string("NO\0OP", 5)}));
}

}  // namespace
}  // namespace etrnd::smtp

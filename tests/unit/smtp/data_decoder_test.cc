#include "etrnd/smtp/data_decoder.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

constexpr size_t kMaxMessageBytes = 10485760;
constexpr size_t kMaxTextLineBytes = 1000;

struct Decoded {
  bool done = false;
  std::string body;
  std::string after;  // input left after the end of data
  bool bare_cr = false;
  bool bare_lf = false;
  bool line_too_long = false;
  bool too_big = false;
  bool nul = false;
  bool refused = false;
};

Decoded DecodeChunks(const std::vector<std::string>& chunks,
                     size_t max_message_bytes = kMaxMessageBytes) {
  DataDecoder decoder(max_message_bytes, kMaxTextLineBytes);
  Decoded decoded;
  for (const std::string& chunk : chunks) {
    std::string_view in = chunk;
    if (decoded.done) {
      decoded.after.append(in);
      continue;
    }
    size_t consumed = 0;
    DataDecoder::Result result = decoder.Consume(in, &consumed, &decoded.body);
    EXPECT_LE(consumed, in.size());
    if (result == DataDecoder::Result::kDone) {
      decoded.done = true;
      decoded.after.append(in.substr(consumed));
    } else {
      EXPECT_EQ(consumed, in.size());
    }
  }
  decoded.bare_cr = decoder.bare_cr();
  decoded.bare_lf = decoder.bare_lf();
  decoded.line_too_long = decoder.line_too_long();
  decoded.too_big = decoder.too_big();
  decoded.nul = decoder.nul();
  decoded.refused = decoder.refused();
  return decoded;
}

Decoded Decode(std::string_view input, size_t max_message_bytes = kMaxMessageBytes) {
  return DecodeChunks({std::string(input)}, max_message_bytes);
}

const std::string kStuffedMessage =
    "From: alice@example.org\r\n"
    "To: bob@example.com\r\n"
    "Subject: dots\r\n"
    "\r\n"
    "..\r\n"
    "..leading dot\r\n"
    "...two dots\r\n"
    "not. a dot. line.\r\n"
    ". \r\n"
    "\r\n";

const std::string kUnstuffedBody =
    "From: alice@example.org\r\n"
    "To: bob@example.com\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".\r\n"
    ".leading dot\r\n"
    "..two dots\r\n"
    "not. a dot. line.\r\n"
    " \r\n"
    "\r\n";

const std::string kTranscript = kStuffedMessage + ".\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n";
const std::string kAfter = "MAIL FROM:<a@b.c>\r\nQUIT\r\n";

void ExpectClean(const Decoded& d) {
  EXPECT_FALSE(d.bare_cr);
  EXPECT_FALSE(d.bare_lf);
  EXPECT_FALSE(d.line_too_long);
  EXPECT_FALSE(d.too_big);
  EXPECT_FALSE(d.nul);
  EXPECT_FALSE(d.refused);
}

TEST(DataDecoderTest, UnstuffsAndStopsAtTheEnd) {
  Decoded d = Decode(kTranscript);
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, kUnstuffedBody);
  EXPECT_EQ(d.after, kAfter);
  ExpectClean(d);
}

TEST(DataDecoderTest, EverySplitPositionGivesTheSameBody) {
  for (size_t split = 0; split <= kTranscript.size(); ++split) {
    Decoded d = DecodeChunks({kTranscript.substr(0, split), kTranscript.substr(split)});
    ASSERT_TRUE(d.done) << "split at " << split;
    EXPECT_EQ(d.body, kUnstuffedBody) << "split at " << split;
    EXPECT_EQ(d.after, kAfter) << "split at " << split;
    ExpectClean(d);
  }
}

TEST(DataDecoderTest, EveryPairOfSplitPositionsGivesTheSameBody) {
  const std::string& t = kTranscript;
  for (size_t a = 0; a <= t.size(); ++a) {
    for (size_t b = a; b <= t.size(); ++b) {
      Decoded d = DecodeChunks({t.substr(0, a), t.substr(a, b - a), t.substr(b)});
      ASSERT_TRUE(d.done) << a << " " << b;
      ASSERT_EQ(d.body, kUnstuffedBody) << a << " " << b;
      ASSERT_EQ(d.after, kAfter) << a << " " << b;
    }
  }
}

TEST(DataDecoderTest, OneByteChunksGiveTheSameBody) {
  std::vector<std::string> chunks;
  for (char c : kTranscript) chunks.push_back(std::string(1, c));
  Decoded d = DecodeChunks(chunks);
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, kUnstuffedBody);
  EXPECT_EQ(d.after, kAfter);
  ExpectClean(d);
}

TEST(DataDecoderTest, EmptyMessage) {
  Decoded d = Decode(".\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, "");
  ExpectClean(d);
}

TEST(DataDecoderTest, BodyKeepsTheLastCrlf) {
  Decoded d = Decode("x\r\n.\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, "x\r\n");
}

TEST(DataDecoderTest, EightBitIsPassedThroughByteExact) {
  const std::string body("caf\xc3\xa9 \x80 \xff\r\n", 11);
  Decoded d = Decode(body + ".\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, body);
  ExpectClean(d);
}

// RFC 5322 section 2.3 forbids NUL in a message: flagged like bare LF.
TEST(DataDecoderTest, NulAnywhereIsFlaggedAndDataStillEnds) {
  const std::string nul(1, '\0');
  for (const std::string& body :
       {"a" + nul + "b\r\n", nul + "\r\n", "." + nul + "\r\n", "ab" + nul, "x\r\n" + nul,
        "Subject: x\r\n\r\nline\r\n" + nul + nul + "\r\n"}) {
    const std::string input = body + (body.back() == '\n' ? "" : "\r\n") + ".\r\nNOOP\r\n";
    for (size_t split = 0; split <= input.size(); ++split) {
      Decoded d = DecodeChunks({input.substr(0, split), input.substr(split)});
      ASSERT_TRUE(d.done) << absl::CEscape(input) << " split " << split;
      EXPECT_EQ(d.after, "NOOP\r\n");
      EXPECT_TRUE(d.nul) << absl::CEscape(input) << " split " << split;
      EXPECT_TRUE(d.refused);
      EXPECT_FALSE(d.bare_lf);
      // Nothing from the NUL on reaches the body: the message is refused.
      EXPECT_EQ(d.body.find('\0'), std::string::npos);
    }
  }
}

// The flags must not depend on the split: a NUL inside an already refused
// (overlong) line is still seen, in one piece or byte by byte.
TEST(DataDecoderTest, NulIsFlaggedInsideAnOverlongLineAtEverySplit) {
  const std::string input = std::string(1500, 'x') + std::string(1, '\0') + "\r\n.\r\n";
  Decoded whole = Decode(input);
  EXPECT_TRUE(whole.line_too_long);
  EXPECT_TRUE(whole.nul);
  std::vector<std::string> bytes;
  for (char c : input) bytes.emplace_back(1, c);
  Decoded chunked = DecodeChunks(bytes);
  EXPECT_TRUE(chunked.line_too_long);
  EXPECT_TRUE(chunked.nul);
}

TEST(DataDecoderTest, ResetClearsTheNulFlag) {
  DataDecoder decoder(kMaxMessageBytes, kMaxTextLineBytes);
  std::string body;
  size_t consumed = 0;
  EXPECT_EQ(decoder.Consume(std::string("a\0b\r\n", 5), &consumed, &body),
            DataDecoder::Result::kNeedMore);
  EXPECT_TRUE(decoder.nul());
  decoder.Reset();
  EXPECT_FALSE(decoder.nul());
  EXPECT_FALSE(decoder.refused());
}

// SMTP smuggling: only <CRLF>.<CRLF> may end the data.
struct SmugglingCase {
  const char* name;
  std::string input;
};

TEST(DataDecoderTest, SmugglingVariantsDoNotEndData) {
  const std::vector<SmugglingCase> cases = {
      {"LF.LF", "a\n.\nMAIL FROM:<evil@x.y>\r\n"},
      {"CR.CR", "a\r.\rMAIL FROM:<evil@x.y>\r\n"},
      {"LF.CRLF", "a\n.\r\nMAIL FROM:<evil@x.y>\r\n"},
      {"CRLF.LF", "a\r\n.\nMAIL FROM:<evil@x.y>\r\n"},
      {"CR.CRLF", "a\r.\r\nMAIL FROM:<evil@x.y>\r\n"},
      {"CRLF.CR", "a\r\n.\rMAIL FROM:<evil@x.y>\r\n"},
      {"CRLF.CRCRLF", "a\r\n.\r\r\nMAIL FROM:<evil@x.y>\r\n"},
  };
  for (const SmugglingCase& c : cases) {
    for (size_t split = 0; split <= c.input.size(); ++split) {
      Decoded d = DecodeChunks({c.input.substr(0, split), c.input.substr(split)});
      EXPECT_FALSE(d.done) << c.name << " split at " << split;
      EXPECT_TRUE(d.bare_cr || d.bare_lf) << c.name;
    }
  }
}

TEST(DataDecoderTest, AfterSmugglingAttemptTheRealEndStillEndsData) {
  Decoded d = Decode("a\n.\nb\r\n.\r\nQUIT\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_TRUE(d.bare_lf);
  EXPECT_FALSE(d.bare_cr);
  EXPECT_EQ(d.after, "QUIT\r\n");
}

TEST(DataDecoderTest, BareLfRightAfterDataStartDoesNotEnd) {
  Decoded d = Decode(".\n.\r\n");
  // ".\n" is a stuffed line with a bare LF; the next line starts after a
  // bare LF, so ".\r\n" there is not the end either.
  EXPECT_FALSE(d.done);
  EXPECT_TRUE(d.bare_lf);
}

TEST(DataDecoderTest, BareCrIsFlagged) {
  Decoded d = Decode("a\rb\r\n.\r\n");
  ASSERT_TRUE(d.done);
  EXPECT_TRUE(d.bare_cr);
  EXPECT_FALSE(d.bare_lf);
}

TEST(DataDecoderTest, CrSplitFromItsLfIsNotBare) {
  Decoded d = DecodeChunks({"abc\r", "\ndef\r", "\n.\r", "\n"});
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, "abc\r\ndef\r\n");
  ExpectClean(d);
}

TEST(DataDecoderTest, LineLimitCountsCrlfAndStuffingDot) {
  const std::string fits = std::string(998, 'x') + "\r\n";                // 1000 octets
  const std::string over = std::string(999, 'x') + "\r\n";                // 1001 octets
  const std::string stuffed_over = "." + std::string(998, '.') + "\r\n";  // 1001 as received
  EXPECT_FALSE(Decode(fits + ".\r\n").line_too_long);
  EXPECT_TRUE(Decode(over + ".\r\n").line_too_long);
  EXPECT_TRUE(Decode(stuffed_over + ".\r\n").line_too_long);
  Decoded d = Decode(fits + fits + ".\r\n");
  EXPECT_EQ(d.body, fits + fits);
}

TEST(DataDecoderTest, LongLineIsFlaggedAtEverySplitAndDataStillEnds) {
  const std::string input = "short\r\n" + std::string(999, 'x') + "\r\nok\r\n.\r\nQUIT\r\n";
  for (size_t split = 0; split <= input.size(); ++split) {
    Decoded d = DecodeChunks({input.substr(0, split), input.substr(split)});
    ASSERT_TRUE(d.done) << split;
    EXPECT_TRUE(d.line_too_long) << split;
    EXPECT_EQ(d.after, "QUIT\r\n") << split;
  }
}

TEST(DataDecoderTest, TooBigIsFlaggedAndNotBuffered) {
  const std::string line = std::string(98, 'x') + "\r\n";
  std::string input;
  for (int i = 0; i < 20; ++i) input += line;  // 2000 octets
  Decoded d = Decode(input + ".\r\nQUIT\r\n", 1000);
  ASSERT_TRUE(d.done);
  EXPECT_TRUE(d.too_big);
  EXPECT_LE(d.body.size(), 1000u);
  EXPECT_EQ(d.after, "QUIT\r\n");
}

TEST(DataDecoderTest, ExactlyMaxSizeIsAccepted) {
  const std::string body = std::string(8, 'x') + "\r\n";  // 10 octets
  Decoded d = Decode(body + ".\r\n", 10);
  ASSERT_TRUE(d.done);
  EXPECT_FALSE(d.too_big);
  EXPECT_EQ(d.body, body);
}

TEST(DataDecoderTest, ResetStartsANewMessage) {
  DataDecoder decoder(kMaxMessageBytes, kMaxTextLineBytes);
  std::string body;
  size_t consumed = 0;
  EXPECT_EQ(decoder.Consume("a\nb", &consumed, &body), DataDecoder::Result::kNeedMore);
  EXPECT_TRUE(decoder.bare_lf());
  decoder.Reset();
  body.clear();
  EXPECT_FALSE(decoder.refused());
  EXPECT_EQ(decoder.Consume(".\r\n", &consumed, &body), DataDecoder::Result::kDone);
  EXPECT_EQ(body, "");
}

TEST(DataDecoderTest, OneMebibyteLineWithoutCrlfIsNotBuffered) {
  DataDecoder decoder(kMaxMessageBytes, kMaxTextLineBytes);
  std::string body;
  const std::string chunk(4096, 'x');
  size_t consumed = 0;
  for (int i = 0; i < 256; ++i) {
    ASSERT_EQ(decoder.Consume(chunk, &consumed, &body), DataDecoder::Result::kNeedMore);
  }
  EXPECT_TRUE(decoder.line_too_long());
  EXPECT_LE(body.size(), kMaxTextLineBytes);
  EXPECT_EQ(decoder.Consume("\r\n.\r\n", &consumed, &body), DataDecoder::Result::kDone);
}

}  // namespace
// Runs of plain lines are decoded in one go: a problem line in the middle
// of a run (bare CR, bare LF, NUL, too long, a stuffed or final dot) must be
// seen exactly as when the bytes come one by one.
TEST(DataDecoderTest, LineRunsDecodeLikeSingleBytes) {
  const std::string plain = "plain text line\r\n";
  const std::string nul(1, '\0');
  for (const std::string& middle :
       {std::string("..stuffed\r\n"), std::string("bare\rcr\r\n"), std::string("bare lf\n"),
        "with" + nul + "nul\r\n", std::string(kMaxTextLineBytes + 1, 'y') + "\r\n",
        std::string(kMaxTextLineBytes - 2, 'z') + "\r\n", std::string("\r\n")}) {
    const std::string input = plain + plain + middle + plain + plain + ".\r\nQUIT\r\n";
    const Decoded whole = Decode(input);
    std::vector<std::string> bytes;
    for (char c : input) bytes.emplace_back(1, c);
    const Decoded single = DecodeChunks(bytes);
    ASSERT_TRUE(whole.done && single.done) << absl::CEscape(middle);
    EXPECT_EQ(whole.after, "QUIT\r\n");
    EXPECT_EQ(single.after, "QUIT\r\n");
    EXPECT_EQ(whole.bare_cr, single.bare_cr) << absl::CEscape(middle);
    EXPECT_EQ(whole.bare_lf, single.bare_lf) << absl::CEscape(middle);
    EXPECT_EQ(whole.nul, single.nul) << absl::CEscape(middle);
    EXPECT_EQ(whole.line_too_long, single.line_too_long) << absl::CEscape(middle);
    EXPECT_EQ(whole.refused, single.refused) << absl::CEscape(middle);
    if (!whole.refused) {
      EXPECT_EQ(whole.body, single.body) << absl::CEscape(middle);
    }
  }
}

}  // namespace etrnd::smtp

#include "etrnd/common/log_line.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd {
namespace {

// 2023-11-14T22:13:20.123Z
const absl::Time kTime = absl::FromUnixMillis(1'700'000'000'123);

std::string Json(std::string_view text) {
  std::string out;
  AppendJsonString(&out, text);
  return out;
}

TEST(LogJsonStringTest, PlainAsciiIsQuotedOnly) {
  EXPECT_EQ(Json("mx.example.com"), R"("mx.example.com")");
  EXPECT_EQ(Json(""), R"("")");
}

TEST(LogJsonStringTest, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(Json(R"(he said "hi" \o/)"), R"("he said \"hi\" \\o/")");
}

TEST(LogJsonStringTest, ControlBytesAreEscaped) {
  EXPECT_EQ(Json("a\nb\rc\td"), R"("a\nb\rc\td")");
  EXPECT_EQ(Json(std::string("\x01\x1f\x7f\b\f", 5)), R"("\u0001\u001f\u007f\u0008\u000c")");
  EXPECT_EQ(Json(std::string("nul\0byte", 8)), R"("nul\u0000byte")");
}

TEST(LogJsonStringTest, ValidUtf8IsKept) {
  EXPECT_EQ(Json("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  EXPECT_EQ(Json("\xE2\x82\xAC"), "\"\xE2\x82\xAC\"");          // U+20AC
  EXPECT_EQ(Json("\xF0\x9F\x93\xA7"), "\"\xF0\x9F\x93\xA7\"");  // U+1F4E7
}

TEST(LogJsonStringTest, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(Json("\xff"), R"("\u00ff")");
  EXPECT_EQ(Json("caf\xE9!"), R"("caf\u00e9!")");                        // Latin-1, not UTF-8
  EXPECT_EQ(Json("\xC3"), R"("\u00c3")");                                // truncated sequence
  EXPECT_EQ(Json("\xC0\xAF"), R"("\u00c0\u00af")");                      // overlong '/'
  EXPECT_EQ(Json("\xED\xA0\x80"), R"("\u00ed\u00a0\u0080")");            // surrogate U+D800
  EXPECT_EQ(Json("\xF4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")");  // above U+10FFFF
  EXPECT_EQ(Json("\xE2\x82x"), R"("\u00e2\u0082x")");
}

TEST(LogJsonStringTest, LineSeparatorsAreEscaped) {
  EXPECT_EQ(Json("a\xE2\x80\xA8"
                 "b\xE2\x80\xA9"),
            R"("a\u2028b\u2029")");
}

TEST(LogJsonStringTest, EveryByteValueGivesPrintableAsciiOutsideUtf8) {
  // Whatever a client sends, the result has no raw control byte and no
  // unescaped quote: the line stays one JSON string.
  for (int byte = 0; byte < 256; ++byte) {
    std::string out = Json(std::string(1, static_cast<char>(byte)));
    ASSERT_GE(out.size(), 3u);
    EXPECT_EQ(out.front(), '"');
    EXPECT_EQ(out.back(), '"');
    for (size_t i = 1; i + 1 < out.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(out[i]);
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "byte " << byte << " -> " << out;
    }
    if (byte == '"' || byte == '\\') {
      EXPECT_EQ(out[1], '\\') << byte;
    }
  }
}

// The timestamp's date and time are cached per second per thread: lines
// within a second, across a second and across a day all match FormatTime.
TEST(LogLineTest, TimestampMatchesFormatTimeAcrossSeconds) {
  const absl::Time base = absl::FromUnixSeconds(1700006399);  // 23:59:59 UTC
  for (int64_t ms : {0, 1, 9, 10, 99, 100, 998, 999, 1000, 1001, 1999, 2000, 86400 * 1000 + 7}) {
    const absl::Time t = base + absl::Milliseconds(ms) + absl::Microseconds(999);
    const std::string want =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()) + " INFO [main] x\n";
    EXPECT_EQ(
        FormatLogLine(LogFormat::kText,
                      {.time = t, .level = LogLevel::kInfo, .thread_index = -1, .message = "x"}),
        want)
        << ms;
  }
}

TEST(LogLineTest, TextLineKeepsTodaysShape) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, {.time = kTime,
                                             .level = LogLevel::kInfo,
                                             .thread_index = 3,
                                             .message = "flush example.com: 2 messages"}),
            "2023-11-14T22:13:20.123Z INFO [t3] flush example.com: 2 messages\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, {.time = kTime,
                                             .level = LogLevel::kWarning,
                                             .thread_index = -1,
                                             .message = "running as root"}),
            "2023-11-14T22:13:20.123Z WARN [main] running as root\n");
}

TEST(LogLineTest, TextLineIgnoresEventAndFields) {
  const LogField fields[] = {{"id", "ABC"}, {"nrcpt", 2}};
  EXPECT_EQ(FormatLogLine(LogFormat::kText, {.time = kTime,
                                             .level = LogLevel::kError,
                                             .thread_index = 0,
                                             .event = "queued",
                                             .fields = fields,
                                             .message = "ABC: from=<a@b>, nrcpt=2, queued"}),
            "2023-11-14T22:13:20.123Z ERROR [t0] ABC: from=<a@b>, nrcpt=2, queued\n");
}

TEST(LogLineTest, TextLineEscapesControlBytesOnly) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, {.time = kTime,
                                             .level = LogLevel::kInfo,
                                             .thread_index = 1,
                                             .message = "helo=<a\r\nINFO fake\x7f\"\\ \xC3\xA9>"}),
            "2023-11-14T22:13:20.123Z INFO [t1] helo=<a\\x0d\\x0aINFO fake\\x7f\"\\ \xC3\xA9>\n");
}

TEST(LogLineTest, JsonPlainMessage) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, {.time = kTime,
                                             .level = LogLevel::kWarning,
                                             .thread_index = -1,
                                             .message = "running as root"}),
            R"({"ts":"2023-11-14T22:13:20.123Z","level":"warning","thread":"main",)"
            R"("msg":"running as root"})"
            "\n");
}

TEST(LogLineTest, JsonEventWithFields) {
  const std::string recipient = "u\"@example.com";
  const LogField fields[] = {
      {"id", "0123ABC"}, {"to", recipient}, {"code", 250}, {"count", uint64_t{7}}, {"delta", -3}};
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, {.time = kTime,
                                             .level = LogLevel::kInfo,
                                             .thread_index = 2,
                                             .event = "delivered",
                                             .fields = fields,
                                             .message = "0123ABC: to=<u\"@example.com>"}),
            R"({"ts":"2023-11-14T22:13:20.123Z","level":"info","thread":"t2",)"
            R"("event":"delivered","id":"0123ABC","to":"u\"@example.com","code":250,)"
            R"("count":7,"delta":-3,"msg":"0123ABC: to=<u\"@example.com>"})"
            "\n");
}

TEST(LogLineTest, JsonLineIsOneLineWhateverTheInput) {
  const LogField fields[] = {{"helo", std::string_view("x\n\"\\\x01\xff", 6)}};
  std::string line = FormatLogLine(LogFormat::kJson, {.time = kTime,
                                                      .level = LogLevel::kDebug,
                                                      .thread_index = 0,
                                                      .event = "queued",
                                                      .fields = fields,
                                                      .message = "a\nb"});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find(R"("helo":"x\n\"\\\u0001\u00ff")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("level":"debug")"), std::string::npos) << line;
}

TEST(LogFormatTest, Parses) {
  LogFormat format = LogFormat::kJson;
  EXPECT_TRUE(ParseLogFormat("text", &format));
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_TRUE(ParseLogFormat("json", &format));
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml", &format));
  EXPECT_FALSE(ParseLogFormat("JSON", &format));
  EXPECT_FALSE(ParseLogFormat("", &format));
}

}  // namespace
}  // namespace etrnd

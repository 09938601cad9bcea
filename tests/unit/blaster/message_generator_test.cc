#include "etrnd/blaster/message_generator.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"
#include "etrnd/smtp/output_chunk.h"
#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

MessageEnvelope Envelope() { return {"sender@blaster.test", {"u1@d1.test", "u2@d2.test"}}; }

// Undoes dot-stuffing the way a server does; fails the test on bad framing.
std::string Unstuff(std::string_view wire) {
  std::string out;
  size_t start = 0;
  while (start < wire.size()) {
    const size_t end = wire.find("\r\n", start);
    EXPECT_NE(end, std::string_view::npos) << "line without CRLF";
    if (end == std::string_view::npos) break;
    std::string_view line = wire.substr(start, end - start);
    start = end + 2;
    if (line == ".") {
      EXPECT_EQ(start, wire.size()) << "bytes after the end-of-data line";
      return out;
    }
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    out.append(line);
    out.append("\r\n");
  }
  ADD_FAILURE() << "no end-of-data line";
  return out;
}

// The generated message as the one SMTP client puts it on the wire.
std::string Stuffed(std::string_view message) {
  std::vector<smtp::OutputChunk> chunks;
  smtp::AppendDotStuffed(message, &chunks);
  return smtp::JoinChunks(chunks);
}

TEST(MessageGeneratorTest, ExactSizeAndValidAfterStuffing) {
  MessageGenerator generator(0x1234, 0, 99);
  bool saw_dot_line = false;
  for (size_t size : {300u, 301u, 302u, 1000u, 4096u, 65536u, 100001u}) {
    const std::string message = generator.Generate(Envelope(), size);
    EXPECT_EQ(message.size(), size);
    ASSERT_TRUE(absl::EndsWith(message, "\r\n"));
    for (absl::string_view piece : absl::StrSplit(AsAbsl(message), "\r\n")) {
      const std::string_view line = AsStd(piece);
      EXPECT_LT(line.size() + 2, 1000u);
      EXPECT_EQ(line.find('\n'), std::string_view::npos) << "bare LF";
      EXPECT_EQ(line.find('\r'), std::string_view::npos) << "bare CR";
      if (!line.empty() && line[0] == '.') saw_dot_line = true;
    }
    EXPECT_EQ(Unstuff(Stuffed(message)), message);
  }
  EXPECT_TRUE(saw_dot_line) << "bodies must exercise dot-stuffing";
}

TEST(MessageGeneratorTest, EverySizeFromHeadersUpIsExact) {
  MessageGenerator generator(1, 0, 5);
  const size_t header_bytes = generator.Generate(Envelope(), 0).size() - 2;
  for (size_t size = header_bytes + 2; size < header_bytes + 400; ++size) {
    ASSERT_EQ(generator.Generate(Envelope(), size).size(), size) << size;
  }
}

TEST(MessageGeneratorTest, HeadersAndUniqueMessageIds) {
  MessageGenerator thread0(77, 0, 1);
  MessageGenerator thread1(77, 1, 1);
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    for (MessageGenerator* generator : {&thread0, &thread1}) {
      const std::string message = generator->Generate(Envelope(), 512);
      const size_t start = message.find("Message-ID: <");
      ASSERT_EQ(start, 0u);
      const size_t end = message.find(">\r\n", start);
      ASSERT_NE(end, std::string::npos);
      EXPECT_TRUE(ids.insert(message.substr(start, end - start)).second) << "duplicate id";
      EXPECT_NE(message.find("\r\nFrom: "), std::string::npos);
      EXPECT_NE(message.find("\r\nTo: <u1@d1.test>\r\n"), std::string::npos);
      EXPECT_NE(message.find("\r\nDate: "), std::string::npos);
      EXPECT_NE(message.find("\r\n\r\n"), std::string::npos) << "header/body separator";
    }
  }
  EXPECT_EQ(ids.size(), 2000u);
}

}  // namespace
}  // namespace etrnd::blaster

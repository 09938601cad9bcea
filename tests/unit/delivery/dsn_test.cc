#include "etrnd/delivery/dsn.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etrnd::delivery {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kOriginal =
    "Received: from c.test by relay.test\r\n"
    "From: Alice <alice@a.test>\r\n"
    "Subject: lunch\r\n"
    "\r\n"
    "the body must not come back\r\n";

BounceRequest Request() {
  return BounceRequest{
      .reporting_mta = "relay.test",
      .original_sender = "alice@a.test",
      .original_message = kOriginal,
      .arrival_time = absl::FromUnixSeconds(1700000000),
      .now = absl::FromUnixSeconds(1700003600),
      .unique_id = "Q12345",
      .recipients = {
          RefusedRecipient("bob@b.test", 550, "550 5.1.1 <bob@b.test>: no such user", "mx.b.test"),
          ExpiredRecipient("carol@b.test", "451 4.3.0 try later")}};
}

// A parsed MIME entity: header fields (lower-case names, unfolded) + body.
struct Entity {
  std::map<std::string, std::string> headers;
  std::string body;
};

Entity ParseEntity(std::string_view text) {
  Entity entity;
  const size_t end = text.find("\r\n\r\n");
  EXPECT_NE(end, std::string_view::npos);
  std::string_view head = text.substr(0, end + 2);
  entity.body = std::string(text.substr(end + 4));
  std::string last;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    if (line[0] == ' ' || line[0] == '\t') {
      entity.headers[last] += " " + std::string(line.substr(1));
      continue;
    }
    const size_t colon = line.find(':');
    EXPECT_NE(colon, std::string_view::npos) << line;
    last = std::string(line.substr(0, colon));
    for (char& c : last) c = static_cast<char>(std::tolower(c));
    entity.headers[last] = std::string(line.substr(colon + 2));
  }
  return entity;
}

std::vector<std::string> Parts(const std::string& body, const std::string& boundary) {
  const std::string delimiter = "--" + boundary + "\r\n";
  const std::string close = "--" + boundary + "--\r\n";
  EXPECT_TRUE(body.ends_with(close));
  std::vector<std::string> parts;
  size_t pos = body.find(delimiter);
  while (pos != std::string::npos) {
    const size_t start = pos + delimiter.size();
    size_t next = body.find(delimiter, start);
    const size_t stop = next == std::string::npos ? body.find(close, start) : next;
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
    parts.push_back(body.substr(start, stop - 2 - start));
    pos = next;
  }
  return parts;
}

std::string Boundary(const Entity& top) {
  const std::string& type = top.headers.at("content-type");
  const size_t at = type.find("boundary=\"");
  EXPECT_NE(at, std::string::npos);
  const size_t start = at + 10;
  return type.substr(start, type.find('"', start) - start);
}

TEST(DsnTest, LinesAreCrlfAndShort) {
  absl::StatusOr<std::string> bounce = BuildBounce(Request());
  ASSERT_TRUE(bounce.ok()) << bounce.status();
  size_t line_start = 0;
  for (size_t i = 0; i < bounce->size(); ++i) {
    if ((*bounce)[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ((*bounce)[i - 1], '\r') << "bare LF at " << i;
      EXPECT_LT(i + 1 - line_start, 1000u);
      line_start = i + 1;
    } else if ((*bounce)[i] == '\r') {
      ASSERT_LT(i + 1, bounce->size());
      EXPECT_EQ((*bounce)[i + 1], '\n') << "bare CR at " << i;
    }
  }
  EXPECT_EQ(line_start, bounce->size());  // ends with CRLF
}

TEST(DsnTest, TopLevelHeaders) {
  const Entity top = ParseEntity(*BuildBounce(Request()));
  EXPECT_EQ(top.headers.at("from"), "Mail Delivery System <MAILER-DAEMON@relay.test>");
  EXPECT_EQ(top.headers.at("to"), "<alice@a.test>");
  EXPECT_EQ(top.headers.at("date"), "Tue, 14 Nov 2023 23:13:20 +0000");
  EXPECT_EQ(top.headers.at("mime-version"), "1.0");
  EXPECT_EQ(top.headers.at("auto-submitted"), "auto-replied");
  EXPECT_THAT(top.headers.at("message-id"), HasSubstr("Q12345"));
  EXPECT_THAT(top.headers.at("content-type"),
              HasSubstr("multipart/report; report-type=delivery-status;"));
  EXPECT_TRUE(top.headers.contains("subject"));
}

TEST(DsnTest, ThreePartsWithTheRequiredFields) {
  const Entity top = ParseEntity(*BuildBounce(Request()));
  const std::vector<std::string> parts = Parts(top.body, Boundary(top));
  ASSERT_EQ(parts.size(), 3u);

  const Entity human = ParseEntity(parts[0]);
  EXPECT_THAT(human.headers.at("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(human.body, HasSubstr("<bob@b.test>: host mx.b.test said: 550 5.1.1"));
  EXPECT_THAT(human.body, HasSubstr("<carol@b.test>: delivery time expired"));

  const Entity status = ParseEntity(parts[1]);
  EXPECT_EQ(status.headers.at("content-type"), "message/delivery-status");
  // Per-message fields, then one group per recipient, separated by blank lines.
  const std::string& report = status.body;
  EXPECT_THAT(report, HasSubstr("Reporting-MTA: dns; relay.test\r\n"));
  EXPECT_THAT(report, HasSubstr("Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
  EXPECT_THAT(report, HasSubstr("\r\n\r\nFinal-Recipient: rfc822; bob@b.test\r\n"
                                "Action: failed\r\nStatus: 5.1.1\r\n"
                                "Remote-MTA: dns; mx.b.test\r\n"
                                "Diagnostic-Code: smtp; 550 5.1.1 <bob@b.test>: no such user\r\n"));
  EXPECT_THAT(report, HasSubstr("\r\n\r\nFinal-Recipient: rfc822; carol@b.test\r\n"
                                "Action: failed\r\nStatus: 4.4.7\r\n"
                                "Diagnostic-Code: X-etrnd; delivery time expired"));

  const Entity headers = ParseEntity(parts[2] + "\r\n");
  EXPECT_EQ(headers.headers.at("content-type"), "text/rfc822-headers");
  EXPECT_THAT(headers.body, HasSubstr("From: Alice <alice@a.test>\r\nSubject: lunch\r\n"));
  EXPECT_THAT(parts[2], Not(HasSubstr("the body must not come back")));
}

TEST(DsnTest, NeverBouncesTheNullSender) {
  BounceRequest request = Request();
  request.original_sender = "";
  EXPECT_FALSE(BuildBounce(request).ok());
}

TEST(DsnTest, NeedsRecipients) {
  BounceRequest request = Request();
  request.recipients.clear();
  EXPECT_FALSE(BuildBounce(request).ok());
}

TEST(DsnTest, HostileDiagnosticCannotInjectLines) {
  BounceRequest request = Request();
  request.recipients = {RefusedRecipient(
      "bob@b.test", 550, "550 x\r\nFinal-Recipient: rfc822; evil\r\n" + std::string(5000, 'y'),
      "mx.b.test")};
  const std::string bounce = *BuildBounce(request);
  EXPECT_THAT(bounce, Not(HasSubstr("\r\nFinal-Recipient: rfc822; evil")));
  for (std::string_view rest = bounce; !rest.empty();) {
    const size_t eol = rest.find("\r\n");
    ASSERT_NE(eol, std::string_view::npos);
    EXPECT_LT(eol + 2, 1000u);
    rest.remove_prefix(eol + 2);
  }
}

TEST(DsnTest, BoundaryAvoidsContent) {
  BounceRequest request = Request();
  const std::string first_boundary = Boundary(ParseEntity(*BuildBounce(request)));
  const std::string original = "X-Trap: " + first_boundary + "\r\n\r\nbody\r\n";
  request.original_message = original;
  const Entity top = ParseEntity(*BuildBounce(request));
  EXPECT_NE(Boundary(top), first_boundary);
  EXPECT_EQ(Parts(top.body, Boundary(top)).size(), 3u);
}

TEST(DsnTest, EnhancedStatusFromReply) {
  EXPECT_EQ(EnhancedStatusFromReply(550, "550 5.1.1 no such user"), "5.1.1");
  EXPECT_EQ(EnhancedStatusFromReply(552, "552-5.3.4 too big 552 5.3.4 really"), "5.3.4");
  EXPECT_EQ(EnhancedStatusFromReply(554, "554 5.7.255 policy"), "5.7.255");
  EXPECT_EQ(EnhancedStatusFromReply(550, "550 no such user"), "5.0.0");
  EXPECT_EQ(EnhancedStatusFromReply(550, "550 4.1.1 wrong class"), "5.0.0");
  EXPECT_EQ(EnhancedStatusFromReply(550, "550 5.1"), "5.0.0");
  EXPECT_EQ(EnhancedStatusFromReply(451, "451 4.3.0 later"), "4.3.0");
}

TEST(DsnTest, ExpiredRecipientWithoutLastReply) {
  const DsnRecipient recipient = ExpiredRecipient("x@y.test", "");
  EXPECT_EQ(recipient.status, "4.4.7");
  EXPECT_EQ(recipient.diagnostic, "delivery time expired");
  EXPECT_FALSE(recipient.diagnostic_is_smtp);
}

}  // namespace
}  // namespace etrnd::delivery

#include "etrnd/delivery/dsn.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/protocol_limits.h"
#include "etrnd/common/strings.h"

namespace etrnd::delivery {
namespace {

constexpr size_t kAddressBytesMax = kCommandLineOctetsMax;
constexpr size_t kHostnameBytesMax = kDomainOctetsMax;
constexpr size_t kHeaderLineBytesMax = kTextLineOctetsMax - 2;  // RFC 5322 2.1.1, without CRLF

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Printable US-ASCII on one line, at most `bytes_max`: what may go into a
// DSN field whatever the next hop or the sender sent us.
std::string OneLine(std::string_view text, size_t bytes_max) {
  std::string line;
  line.reserve(std::min(text.size(), bytes_max));
  for (const char c : text) {
    if (line.size() >= bytes_max) break;
    const auto byte = static_cast<unsigned char>(c);
    line += (byte < 0x20 || byte >= 0x7f) ? (c == '\t' ? ' ' : '?') : c;
  }
  return line;
}

// Letters, digits, '-', '.' and '_' only: safe in a boundary and a Message-ID.
std::string Token(std::string_view text, size_t bytes_max) {
  std::string token;
  for (const char c : text.substr(0, bytes_max)) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c);
    if (alnum || c == '-' || c == '.' || c == '_') token += c;
  }
  return token.empty() ? "x" : token;
}

// RFC 5322 date-time in UTC.
std::string MailDate(absl::Time time) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", time, absl::UTCTimeZone());
}

// Parses "d.ddd.ddd" at the start of `text`; returns its length or 0.
size_t EnhancedCodeLength(std::string_view text) {
  size_t pos = 0;
  for (int part = 0; part < 3; ++part) {
    const size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos]) && pos - start < 3) ++pos;
    if (pos == start || (part == 0 && pos - start != 1)) return 0;
    if (part < 2) {
      if (pos >= text.size() || text[pos] != '.') return 0;
      ++pos;
    }
  }
  if (pos < text.size() && text[pos] != ' ') return 0;
  return pos;
}

// The message's header section (up to the first empty line), one CRLF line
// at a time, bounded in line length and total size.
std::string OriginalHeaders(std::string_view message) {
  std::string headers;
  while (!message.empty()) {
    const size_t newline = message.find('\n');
    std::string_view line = message.substr(0, newline);
    message.remove_prefix(newline == std::string_view::npos ? message.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    line = line.substr(0, kHeaderLineBytesMax);
    if (headers.size() + line.size() + 2 > kDsnOriginalHeadersBytesMax) break;
    absl::StrAppend(&headers, AsAbsl(line), "\r\n");
  }
  return headers;
}

// A boundary that occurs nowhere in the parts it separates.
std::string Boundary(std::string_view unique_id, absl::Time now,
                     const std::vector<std::string_view>& contents) {
  const std::string base =
      absl::StrCat("=_etrnd_", Token(unique_id, 64), "_", absl::ToUnixSeconds(now));
  for (int attempt = 0;; ++attempt) {
    std::string boundary = attempt == 0 ? base : absl::StrCat(base, "_", attempt);
    bool clash = false;
    for (std::string_view content : contents) {
      if (content.find(boundary) != std::string_view::npos) clash = true;
    }
    if (!clash) return boundary;
  }
}

std::string HumanReadablePart(const BounceRequest& request, std::string_view host) {
  std::string text =
      absl::StrCat("This is the mail system at host ", AsAbsl(host),
                   ".\r\n\r\n"
                   "I'm sorry to have to inform you that your message could not\r\n"
                   "be delivered to one or more recipients. Its headers are attached.\r\n\r\n");
  for (const DsnRecipient& recipient : request.recipients) {
    absl::StrAppend(&text, "<", AsAbsl(OneLine(recipient.address, kAddressBytesMax)), ">: ");
    if (!recipient.remote_mta.empty()) {
      absl::StrAppend(&text, "host ", AsAbsl(OneLine(recipient.remote_mta, kHostnameBytesMax)),
                      " said: ");
    }
    absl::StrAppend(&text, AsAbsl(OneLine(recipient.diagnostic, kDsnDiagnosticBytesMax)), "\r\n");
  }
  return text;
}

std::string DeliveryStatusPart(const BounceRequest& request, std::string_view host) {
  std::string text = absl::StrCat("Reporting-MTA: dns; ", AsAbsl(host), "\r\n",
                                  "Arrival-Date: ", MailDate(request.arrival_time), "\r\n");
  for (const DsnRecipient& recipient : request.recipients) {
    absl::StrAppend(&text, "\r\nFinal-Recipient: rfc822; ",
                    AsAbsl(OneLine(recipient.address, kAddressBytesMax)),
                    "\r\nAction: failed\r\nStatus: ", AsAbsl(OneLine(recipient.status, 16)),
                    "\r\n");
    if (!recipient.remote_mta.empty()) {
      absl::StrAppend(&text, "Remote-MTA: dns; ",
                      AsAbsl(OneLine(recipient.remote_mta, kHostnameBytesMax)), "\r\n");
    }
    absl::StrAppend(&text, "Diagnostic-Code: ", recipient.diagnostic_is_smtp ? "smtp" : "X-etrnd",
                    "; ", AsAbsl(OneLine(recipient.diagnostic, kDsnDiagnosticBytesMax)), "\r\n");
  }
  return text;
}

}  // namespace

std::string EnhancedStatusFromReply(int code, std::string_view reply) {
  const char klass = code >= 500 ? '5' : code >= 400 ? '4' : '2';
  // "550 5.1.1 text" or "550-5.1.1 text": the code, a separator, the status.
  if (reply.size() > 4 && IsDigit(reply[0])) {
    std::string_view rest = reply.substr(4);
    const size_t length = EnhancedCodeLength(rest);
    if (length > 0 && rest[0] == klass) return std::string(rest.substr(0, length));
  }
  return absl::StrCat(std::string(1, klass), ".0.0");
}

DsnRecipient RefusedRecipient(std::string address, int code, std::string_view reply,
                              std::string remote_mta) {
  return DsnRecipient{.address = std::move(address),
                      .status = EnhancedStatusFromReply(code, reply),
                      .diagnostic = std::string(reply),
                      .diagnostic_is_smtp = true,
                      .remote_mta = std::move(remote_mta)};
}

DsnRecipient ExpiredRecipient(std::string address, std::string_view last_reply) {
  std::string diagnostic = "delivery time expired";
  if (!last_reply.empty()) absl::StrAppend(&diagnostic, " (last reply: ", AsAbsl(last_reply), ")");
  return DsnRecipient{.address = std::move(address),
                      .status = "4.4.7",
                      .diagnostic = std::move(diagnostic),
                      .diagnostic_is_smtp = false,
                      .remote_mta = ""};
}

absl::StatusOr<std::string> BuildBounce(const BounceRequest& request) {
  if (request.original_sender.empty()) {
    return absl::InvalidArgumentError("no bounce for the null sender");
  }
  if (request.recipients.empty() || request.recipients.size() > kDsnRecipientsMax) {
    return absl::InvalidArgumentError("a bounce needs 1 to kDsnRecipientsMax recipients");
  }
  const std::string host = OneLine(request.reporting_mta, kHostnameBytesMax);
  const std::string human = HumanReadablePart(request, host);
  const std::string status = DeliveryStatusPart(request, host);
  const std::string headers = OriginalHeaders(request.original_message);
  const std::string boundary = Boundary(request.unique_id, request.now, {human, status, headers});

  std::string message = absl::StrCat(
      "From: Mail Delivery System <MAILER-DAEMON@", host, ">\r\n", "To: <",
      OneLine(request.original_sender, kAddressBytesMax), ">\r\n",
      "Subject: Undelivered Mail Returned to Sender\r\n", "Date: ", MailDate(request.now), "\r\n",
      "Message-ID: <", Token(request.unique_id, 64), ".bounce@", host, ">\r\n",
      "Auto-Submitted: auto-replied\r\n", "MIME-Version: 1.0\r\n",
      "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"", boundary,
      "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n");
  absl::StrAppend(&message, "--", boundary,
                  "\r\nContent-Type: text/plain; charset=us-ascii\r\n"
                  "Content-Description: Notification\r\n\r\n",
                  human, "\r\n");
  absl::StrAppend(&message, "--", boundary,
                  "\r\nContent-Type: message/delivery-status\r\n"
                  "Content-Description: Delivery report\r\n\r\n",
                  status, "\r\n");
  absl::StrAppend(&message, "--", boundary,
                  "\r\nContent-Type: text/rfc822-headers\r\n"
                  "Content-Description: Undelivered Message Headers\r\n\r\n",
                  headers, "\r\n");
  absl::StrAppend(&message, "--", boundary, "--\r\n");
  return message;
}

}  // namespace etrnd::delivery

// Builds bounce messages: RFC 3464 delivery status notifications
// (multipart/report; report-type=delivery-status) for recipients that failed
// for good, either refused by the next hop (5xx) or expired in the queue.
// The result is queued with the null sender "" to the original sender.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace etrnd::delivery {

inline constexpr size_t kDsnDiagnosticBytesMax = 800;         // keeps lines < 1000 octets
inline constexpr size_t kDsnOriginalHeadersBytesMax = 65536;  // of the returned headers
inline constexpr size_t kDsnRecipientsMax = 1000;             // --max_recipients' default

struct DsnRecipient {
  std::string address;  // the final recipient, without angle brackets
  std::string status;   // RFC 3463 code, "5.1.1"
  // The next hop's reply ("550 5.1.1 <a@b>: user unknown") when
  // diagnostic_is_smtp, else our own explanation.
  std::string diagnostic;
  bool diagnostic_is_smtp = true;
  std::string remote_mta;  // host name of the next hop, "" when unknown
};

// A recipient the next hop refused with a 5xx reply.
DsnRecipient RefusedRecipient(std::string address, int code, std::string_view reply,
                              std::string remote_mta);
// A recipient still undelivered after --max_queue_lifetime (Status 4.4.7).
// `last_reply` (may be empty) is the last temporary failure, for the sender.
DsnRecipient ExpiredRecipient(std::string address, std::string_view last_reply);

// The RFC 3463 status carried by an SMTP reply ("550 5.1.1 ..." -> "5.1.1"),
// or "<class>.0.0" when it carries none (or one of another class).
std::string EnhancedStatusFromReply(int code, std::string_view reply);

struct BounceRequest {
  std::string reporting_mta;          // our --hostname
  std::string original_sender;        // the envelope sender the bounce goes to
  std::string_view original_message;  // the stored message: its headers are returned
  absl::Time arrival_time;
  absl::Time now;
  std::string unique_id;  // e.g. the queue id: makes Message-ID and boundary unique
  std::vector<DsnRecipient> recipients;
};

// The bounce message bytes (CRLF line endings, every line under 1000
// octets). InvalidArgument for a null sender (a bounce is never bounced) or
// no recipients.
absl::StatusOr<std::string> BuildBounce(const BounceRequest& request);

}  // namespace etrnd::delivery

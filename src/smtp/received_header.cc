#include "etrnd/smtp/received_header.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {

std::string AddressLiteral(const IpAddress& ip) {
  const IpAddress plain = ip.Unmapped();
  if (plain.is_v4()) return absl::StrCat("[", plain.ToString(), "]");
  if (plain.is_v6()) return absl::StrCat("[IPv6:", plain.ToString(), "]");
  return "[unknown]";
}

std::string FormatRfc5322Date(absl::Time time) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", time, absl::UTCTimeZone());
}

// The "with" protocol of RFC 3848: ESMTP, ESMTPA after AUTH; HELO is SMTP.
std::string_view ProtocolName(const ReceivedInfo& info) {
  if (!info.esmtp) return "SMTP";
  return info.authenticated ? "ESMTPA" : "ESMTP";
}

std::string FormatReceivedHeader(const ReceivedInfo& info) {
  std::string header =
      absl::StrCat("Received: from ", AsAbsl(info.helo_name), " (", AddressLiteral(info.peer_ip),
                   ")\r\n", "\tby ", AsAbsl(info.hostname), " (etrnd) with ",
                   AsAbsl(ProtocolName(info)), " id ", AsAbsl(info.queue_id));
  if (!info.recipient.empty()) {
    absl::StrAppend(&header, "\r\n\tfor <", AsAbsl(info.recipient), ">");
  }
  absl::StrAppend(&header, "; ", FormatRfc5322Date(info.time), "\r\n");
  return header;
}

size_t CountReceivedFields(std::string_view message, size_t stop_at) {
  constexpr std::string_view kField = "received:";
  size_t count = 0;
  size_t at = 0;
  while (at < message.size() && count < stop_at) {
    size_t end = message.find('\n', at);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(at, end - at);
    if (line.empty() || line == "\r") break;  // end of the header section
    if (line.size() >= kField.size() &&
        absl::EqualsIgnoreCase(AsAbsl(line.substr(0, kField.size())), AsAbsl(kField))) {
      ++count;
    }
    at = end + 1;
  }
  return count;
}

}  // namespace etrnd::smtp

#include "etrnd/smtp/received_header.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {
namespace {

// Room for a typical header, so that it is built without reallocating.
constexpr size_t kReceivedHeaderReserveBytes = 384;

}  // namespace

std::string AddressLiteral(const IpAddress& ip) {
  const IpAddress plain = ip.Unmapped();
  if (plain.is_v4()) return absl::StrCat("[", plain.ToString(), "]");
  if (plain.is_v6()) return absl::StrCat("[IPv6:", plain.ToString(), "]");
  return "[unknown]";
}

std::string FormatRfc5322Date(absl::Time time) {
  // Every message of the same second has the same date: formatted once per
  // second and thread (the time zone formatting is most of a header's cost).
  constexpr char kFormat[] = "%a, %d %b %Y %H:%M:%S +0000";
  if (time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return absl::FormatTime(kFormat, time, absl::UTCTimeZone());
  }
  thread_local bool have_cached = false;
  thread_local int64_t cached_second = 0;
  thread_local std::string cached;
  const int64_t second = absl::ToUnixSeconds(time);
  if (!have_cached || second != cached_second) {
    cached = absl::FormatTime(kFormat, absl::FromUnixSeconds(second), absl::UTCTimeZone());
    cached_second = second;
    have_cached = true;
  }
  return cached;
}

std::string FormatReceivedHeader(const ReceivedInfo& info) {
  std::string header;
  header.reserve(kReceivedHeaderReserveBytes);
  absl::StrAppend(&header, "Received: from ", AsAbsl(info.helo_name), " (",
                  AddressLiteral(info.peer_ip), ")\r\n");
  const bool tls = !info.tls_version.empty();
  if (tls) {
    absl::StrAppend(&header, "\t(using ", AsAbsl(info.tls_version), " with cipher ",
                    AsAbsl(info.tls_cipher), ")\r\n");
  }
  // RFC 3848: "S" for TLS, "A" for AUTH, in that order.
  absl::StrAppend(&header, "\tby ", AsAbsl(info.hostname), " (etrnd) with ",
                  info.esmtp ? "ESMTP" : "SMTP", tls ? "S" : "", info.authenticated ? "A" : "",
                  " id ", AsAbsl(info.queue_id));
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

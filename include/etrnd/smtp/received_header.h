// The trace header etrnd prepends to every accepted message (RFC 5321
// section 4.4, RFC 5322 section 3.6.7).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "etrnd/common/net_address.h"

namespace etrnd::smtp {

struct ReceivedInfo {
  std::string_view helo_name;  // as the client gave it in HELO/EHLO
  IpAddress peer_ip;           // shown as an address literal
  std::string_view hostname;   // ours
  bool esmtp = true;           // EHLO (ESMTP) or HELO (SMTP)
  // Under TLS: "TLSv1.3" and the cipher suite's name, shown as Postfix does;
  // the protocol becomes ESMTPS (RFC 3848).
  std::string_view tls_version;
  std::string_view tls_cipher;
  bool authenticated = false;  // SMTP AUTH: ESMTPA / ESMTPSA (RFC 3848)
  std::string_view queue_id;
  std::string_view recipient;  // "for <...>" only when there is exactly one
  absl::Time time;
};

// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 section 4.1.3).
std::string AddressLiteral(const IpAddress& ip);
// "Tue, 01 Dec 2026 04:07:31 +0000".
std::string FormatRfc5322Date(absl::Time time);
// The whole header, folded, ending in CRLF.
std::string FormatReceivedHeader(const ReceivedInfo& info);

// Received: fields in the header section of `message` (CRLF lines; the
// header ends at the first empty line), counted up to `stop_at`: the hop
// count of RFC 5321 section 6.3, which detects mail loops.
size_t CountReceivedFields(std::string_view message, size_t stop_at);

}  // namespace etrnd::smtp

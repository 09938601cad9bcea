// Syntax of envelope addresses (RFC 5321 sections 4.1.2 and 4.5.3.1).
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "etrnd/common/protocol_limits.h"

namespace etrnd::smtp {

// Named bounds from RFC 5321 section 4.5.3.1.
inline constexpr size_t kMaxLocalPartBytes = kLocalPartOctetsMax;
inline constexpr size_t kMaxDomainBytes = kDomainOctetsMax;
inline constexpr size_t kMaxLabelBytes = kLabelOctetsMax;
inline constexpr size_t kMaxPathBytes = kPathOctetsMax;  // angle brackets included
inline constexpr size_t kMaxParameters = 16;             // per MAIL/RCPT command

// A domain name (dot-separated letter-digit-hyphen labels) or an address
// literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
bool IsValidDomain(std::string_view domain);
// A Dot-string or Quoted-string local part.
bool IsValidLocalPart(std::string_view local_part);
// local-part "@" domain.
bool IsValidMailbox(std::string_view mailbox);
// The part after the last '@' ("" without one).
std::string_view MailboxDomain(std::string_view mailbox);

struct PathArgument {
  std::string_view mailbox;     // between the brackets, source route removed
  std::string_view parameters;  // after the closing bracket, spaces trimmed
};
// Parses "<path>[ SP parameters]" as found after "MAIL FROM:" or
// "RCPT TO:". Only checks the framing (brackets, quotes, route, length);
// the mailbox itself is checked by the caller with IsValidMailbox().
bool ParsePathArgument(std::string_view text, PathArgument* out);

// esmtp-keyword ["=" esmtp-value], separated by spaces. False on bad syntax
// or more than kMaxParameters.
using Parameter = std::pair<std::string_view, std::string_view>;
bool ParseParameters(std::string_view text, std::vector<Parameter>* out);

}  // namespace etrnd::smtp

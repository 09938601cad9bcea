#include "etrnd/smtp/address.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "etrnd/common/net_address.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {

namespace {

bool IsLetterOrDigit(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// atext of RFC 5322 section 3.2.3.
bool IsAtext(char c) {
  if (IsLetterOrDigit(c)) return true;
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

bool IsValidLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!IsLetterOrDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsValidAddressLiteral(std::string_view literal) {
  if (literal.size() < 2 || literal.front() != '[' || literal.back() != ']') return false;
  std::string_view inside = literal.substr(1, literal.size() - 2);
  constexpr std::string_view kIpv6Tag = "IPv6:";
  if (absl::StartsWithIgnoreCase(AsAbsl(inside), AsAbsl(kIpv6Tag))) {
    auto ip = IpAddress::Parse(inside.substr(kIpv6Tag.size()));
    return ip.ok() && ip->is_v6();
  }
  auto ip = IpAddress::Parse(inside);
  return ip.ok() && ip->is_v4();
}

bool IsValidDotString(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  char previous = 0;
  for (char c : text) {
    if (c == '.' && previous == '.') return false;
    if (c != '.' && !IsAtext(c)) return false;
    previous = c;
  }
  return true;
}

bool IsValidQuotedString(std::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return false;
  std::string_view inside = text.substr(1, text.size() - 2);
  for (size_t i = 0; i < inside.size(); ++i) {
    const char c = inside[i];
    if (c == '\\') {
      if (++i == inside.size()) return false;
      if (inside[i] < 32 || inside[i] > 126) return false;
    } else if (c < 32 || c > 126 || c == '"') {
      return false;
    }
  }
  return true;
}

// Index of the '>' closing a path that starts at text[0] == '<', skipping
// quoted strings; npos if there is none.
size_t FindPathEnd(std::string_view text) {
  bool quoted = false;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == '>' && !quoted) {
      return i;
    }
  }
  return std::string_view::npos;
}

// "@one.example,@two.example:" before the mailbox (RFC 5321 section 4.1.2,
// accepted and ignored as section C says). A route needs a mailbox after
// it: "<@a.example:>" is not the null path. Route domains are names only
// (At-domain has no address literals), so the first ':' ends the route.
bool StripSourceRoute(std::string_view* path) {
  if (path->empty() || path->front() != '@') return true;
  const size_t colon = path->find(':');
  if (colon == std::string_view::npos || colon + 1 == path->size()) return false;
  std::string_view route = path->substr(0, colon);
  while (true) {
    if (route.empty() || route.front() != '@') return false;  // also after a ','
    const size_t comma = route.find(',');
    const std::string_view domain = route.substr(1, comma - 1);
    if (!IsValidDomain(domain) || domain.front() == '[') return false;
    if (comma == std::string_view::npos) break;
    route.remove_prefix(comma + 1);
  }
  path->remove_prefix(colon + 1);
  return true;
}

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

bool IsValidKeyword(std::string_view keyword) {
  if (keyword.empty() || !IsLetterOrDigit(keyword.front())) return false;
  for (char c : keyword) {
    if (!IsLetterOrDigit(c) && c != '-') return false;
  }
  return true;
}

bool IsValidParameterValue(std::string_view value) {
  if (value.empty()) return false;
  for (char c : value) {
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return true;
}

}  // namespace

bool IsValidDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxDomainBytes) return false;
  if (domain.front() == '[') return IsValidAddressLiteral(domain);
  while (true) {
    const size_t dot = domain.find('.');
    if (!IsValidLabel(domain.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    domain.remove_prefix(dot + 1);
  }
}

bool IsValidLocalPart(std::string_view local_part) {
  if (local_part.size() > kMaxLocalPartBytes) return false;
  if (!local_part.empty() && local_part.front() == '"') return IsValidQuotedString(local_part);
  return IsValidDotString(local_part);
}

bool IsValidMailbox(std::string_view mailbox) {
  const size_t at = mailbox.rfind('@');
  if (at == std::string_view::npos) return false;
  return IsValidLocalPart(mailbox.substr(0, at)) && IsValidDomain(mailbox.substr(at + 1));
}

std::string_view MailboxDomain(std::string_view mailbox) {
  const size_t at = mailbox.rfind('@');
  return at == std::string_view::npos ? std::string_view() : mailbox.substr(at + 1);
}

bool ParsePathArgument(std::string_view text, PathArgument* out) {
  if (text.empty() || text.front() != '<') return false;
  const size_t end = FindPathEnd(text);
  if (end == std::string_view::npos || end + 1 > kMaxPathBytes) return false;
  std::string_view path = text.substr(1, end - 1);
  if (!StripSourceRoute(&path)) return false;
  std::string_view rest = text.substr(end + 1);
  if (!rest.empty() && rest.front() != ' ') return false;
  out->mailbox = path;
  out->parameters = TrimSpaces(rest);
  return true;
}

bool ParseParameters(std::string_view text, std::vector<Parameter>* out) {
  out->clear();
  text = TrimSpaces(text);
  while (!text.empty()) {
    if (out->size() == kMaxParameters) return false;
    const size_t space = text.find(' ');
    std::string_view item = text.substr(0, space);
    const size_t equals = item.find('=');
    std::string_view keyword = item.substr(0, equals);
    std::string_view value;
    if (equals != std::string_view::npos) {
      value = item.substr(equals + 1);
      if (!IsValidParameterValue(value)) return false;
    }
    if (!IsValidKeyword(keyword)) return false;
    out->emplace_back(keyword, value);
    text = space == std::string_view::npos ? std::string_view() : TrimSpaces(text.substr(space));
  }
  return true;
}

}  // namespace etrnd::smtp

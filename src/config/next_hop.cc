#include "etrnd/config/next_hop.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/net_address.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::config {
namespace {

absl::Status BadNextHop(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad next hop '", AsAbsl(text), "': ", AsAbsl(why)));
}

absl::StatusOr<NextHop> ParseHostName(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return BadNextHop(text, "a host name needs a port (host:port)");
  }
  std::string_view host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    return BadNextHop(text, "IPv6 addresses must be in brackets ([addr]:port)");
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(AsAbsl(text.substr(colon + 1)), &port) || port == 0 || port > 65535) {
    return BadNextHop(text, "bad port");
  }
  std::string normalized = NormalizeDomain(host);
  if (const char* problem = DomainNameProblem(normalized, 1)) return BadNextHop(text, problem);
  NextHop hop;
  hop.host = std::move(normalized);
  hop.port = static_cast<uint16_t>(port);
  return hop;
}

}  // namespace

std::string NextHop::ToString() const {
  if (kind == Kind::kMx) return "mx";
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

bool NextHop::host_is_ip() const { return kind == Kind::kHost && IpAddress::Parse(host).ok(); }

absl::StatusOr<NextHop> ParseNextHop(std::string_view text) {
  if (text == "mx" || text == "MX" || text == "Mx" || text == "mX") {
    NextHop hop;
    hop.kind = NextHop::Kind::kMx;
    hop.port = kSmtpPort;
    return hop;
  }
  // An IP literal: "1.2.3.4", "1.2.3.4:26", "[::1]", "[::1]:26".
  auto address = SocketAddress::Parse(text, kSmtpPort);
  if (address.ok()) {
    if (address->port() == 0) return BadNextHop(text, "bad port");
    NextHop hop;
    hop.host = address->ip().ToString();
    hop.port = address->port();
    return hop;
  }
  if (!text.empty() && text.front() == '[') return BadNextHop(text, "bad bracketed IPv6 address");
  return ParseHostName(text);
}

}  // namespace etrnd::config

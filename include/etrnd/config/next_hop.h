// Where a customer domain's mail goes: a fixed host and port, or the MX hosts
// of the recipient domain.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace etrnd::config {

inline constexpr uint16_t kSmtpPort = 25;

struct NextHop {
  enum class Kind { kHost, kMx };
  Kind kind = Kind::kHost;
  std::string host;  // IP literal (no brackets) or a host name; empty for kMx
  uint16_t port = kSmtpPort;

  // Canonical table form: "mx", "host:port", "1.2.3.4:25", "[2001:db8::1]:25".
  std::string ToString() const;
  // The host is an IP literal (no DNS lookup needed).
  bool host_is_ip() const;

  friend bool operator==(const NextHop&, const NextHop&) = default;
};

// Table syntax: "mx", "host:port", "IPv4[:port]", "[IPv6][:port]". A host
// name needs an explicit port (a bare name would be ambiguous with "mx"-style
// routing); the error message is the reason only, without file or line.
absl::StatusOr<NextHop> ParseNextHop(std::string_view text);

}  // namespace etrnd::config

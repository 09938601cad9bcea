// Where to connect for a domain: the ordered socket addresses of its next
// hop, whether the route names an IP literal, a host, or the domain's MX.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/common/net_address.h"
#include "etrnd/delivery/dns_resolver.h"

namespace etrnd::delivery {

inline constexpr uint16_t kSmtpPort = 25;

struct RouteSpec {
  enum Kind {
    kAddress,  // `host` is an IP literal: connect there
    kHost,     // `host` is a name: connect to its addresses
    kMx,       // look up the domain's MX hosts (RFC 5321 5.1)
  };
  Kind kind = kMx;
  std::string host;
  // Port of every address produced (kMx: 25; tests point it elsewhere).
  uint16_t port = kSmtpPort;
  // kMx: our own host name (may be empty); it and every MX not better than
  // it are dropped, so a backup MX never delivers to itself.
  std::string local_hostname;
};

using RouteCallback = std::function<void(absl::StatusOr<std::vector<SocketAddress>>)>;

// An address to try and the host name it was found under: the route's host
// or the MX host ("" for an IP literal route). TLS checks certificates
// against it (tls=verify).
struct RouteTarget {
  SocketAddress address;
  std::string host;
};
using RouteTargetsCallback = std::function<void(absl::StatusOr<std::vector<RouteTarget>>)>;

// done gets the addresses to try in order (MX preference order, equal
// preferences shuffled, a domain without MX standing for itself), or:
// FailedPrecondition for a null MX (RFC 7505: bounce with
// delivery::kNullMxReply), NotFound when the domain or every host does not
// exist (bounce), Unavailable for temporary DNS failures or when we are the
// best MX (defer), Cancelled when the resolver is destroyed mid-lookup.
// done never runs before ResolveRoute returns.
void ResolveRoute(DnsResolver& resolver, const std::string& domain, const RouteSpec& spec,
                  RouteCallback done);
// The same, each address with its host name.
void ResolveRouteTargets(DnsResolver& resolver, const std::string& domain, const RouteSpec& spec,
                         RouteTargetsCallback done);

}  // namespace etrnd::delivery

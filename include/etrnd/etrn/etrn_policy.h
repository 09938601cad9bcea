// Who may ETRN what (SPEC section 6, RFC 1985). Pure: a domains table, an
// argument and a client address in, a decision out. The queue index does the
// counting and flushing with the plan; the session sends the reply.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "etrnd/common/net_address.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/etrn/etrn_argument.h"
#include "etrnd/etrn/etrn_replies.h"

namespace etrnd::etrn {

// Reasons given in "459 4.7.1 Node <x> not allowed: <reason>".
inline constexpr std::string_view kReasonNotServed = "not served here";
inline constexpr std::string_view kReasonClientNotPermitted =
    "ETRN not permitted from this address";
inline constexpr std::string_view kReasonNoSuchQueue = "no such queue";

// Either a final reply (refused), or what the index must count and flush:
//   kNode    the one domain argument.name.
//   kSubtree root domain D = argument.name: D and every queued subdomain of D
//            for which DomainAllowed() holds.
//   kQueue   queue argument.name: the queued domains for which
//            DomainAllowed() holds (their entry is in that queue and lets the
//            client ETRN).
struct EtrnPlan {
  std::optional<std::string> reply;  // 501 or 459 line (no CRLF) when refused
  EtrnArgument argument;
  // The session's SMTP AUTH user ("" = none): entries whose auth= names it
  // allow the ETRN from any address. It travels with the plan to every core.
  std::string auth_user;

  bool refused() const { return reply.has_value(); }
};

// The decision is taken against this table snapshot; the caller keeps using
// the same snapshot for DomainAllowed().
EtrnPlan PlanEtrn(const config::DomainsTable& table, std::string_view argument,
                  const IpAddress& client, std::string_view auth_user = "");

// For an accepted plan: does this queued domain take part? Its Match() entry
// must let the client (address, or the plan's auth_user) ETRN, and the domain must be in the plan's
// scope (the node itself, D or a subdomain of D, or an entry with the plan's queue).
bool DomainAllowed(const config::DomainsTable& table, const EtrnPlan& plan, std::string_view domain,
                   const IpAddress& client);

}  // namespace etrnd::etrn

// Who may ATRN what (SPEC section 6, RFC 2645 ODMR). Pure: a domains table,
// an authenticated user and the ATRN argument in, a decision out. A user may
// have a domain when the table entry that Match()es it lists the user in
// `auth=`. The queue shards then count and turn the plan's domains.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/config/domains_table.h"

namespace etrnd::etrn {

// Exact replies (SPEC section 6), without CRLF.
inline constexpr std::string_view kAtrnReversing = "250 2.0.0 OK now reversing the connection";
inline constexpr std::string_view kAtrnRefused = "450 4.7.1 ATRN request refused";
inline constexpr std::string_view kAtrnNoMail = "453 4.3.0 You have no mail";
inline constexpr std::string_view kAtrnAuthRequired = "530 5.7.0 Authentication required";
inline constexpr std::string_view kAtrnSyntax = "501 5.5.4 Syntax: ATRN [domain[,domain...]]";
// A customer names a handful of domains; more is not a real request.
inline constexpr size_t kAtrnDomainsMax = 64;

// A refusal (reply set), or the domains to turn:
//   domains   exact domains (lower case, no trailing dot);
//   subtrees  roots R of the user's ".R" entries: every queued strict
//             subdomain D of R for which UserMayAtrn(D) holds.
struct AtrnPlan {
  std::optional<std::string> reply;
  std::vector<std::string> domains;
  std::vector<std::string> subtrees;

  bool refused() const { return reply.has_value(); }
};

// True when the table entry for `domain` lists `user` in auth=.
bool UserMayAtrn(const config::DomainsTable& table, std::string_view user, std::string_view domain);

// `argument`: "" (every domain whose auth= names the user) or
// "dom1,dom2" (spaces around the commas allowed). Any named domain the user
// may not have refuses the whole request (450, before any count).
AtrnPlan PlanAtrn(const config::DomainsTable& table, std::string_view user,
                  std::string_view argument);

}  // namespace etrnd::etrn

#include "etrnd/etrn/atrn_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"
#include "etrnd/config/domain_name.h"

namespace etrnd::etrn {

bool UserMayAtrn(const config::DomainsTable& table, std::string_view user,
                 std::string_view domain) {
  const config::DomainEntry* entry = table.Match(domain);
  if (entry == nullptr || user.empty()) return false;
  return entry->HasAuthUser(user);
}

AtrnPlan PlanAtrn(const config::DomainsTable& table, std::string_view user,
                  std::string_view argument) {
  AtrnPlan plan;
  argument = AsStd(absl::StripAsciiWhitespace(AsAbsl(argument)));
  if (argument.empty()) {
    for (const config::DomainEntry& entry : table.entries()) {
      if (!entry.HasAuthUser(user)) continue;
      (entry.subdomains_only ? plan.subtrees : plan.domains).push_back(entry.domain);
    }
    return plan;
  }
  bool refused = false;
  for (absl::string_view piece : absl::StrSplit(AsAbsl(argument), ',')) {
    std::string domain = config::NormalizeDomain(AsStd(absl::StripAsciiWhitespace(piece)));
    if (domain.empty() || plan.domains.size() == kAtrnDomainsMax ||
        config::DomainNameProblem(domain, 1) != nullptr) {
      plan.domains.clear();
      plan.reply = std::string(kAtrnSyntax);
      return plan;
    }
    // Every item is still checked for syntax: 501 wins over 450.
    if (!UserMayAtrn(table, user, domain)) refused = true;
    if (std::find(plan.domains.begin(), plan.domains.end(), domain) == plan.domains.end()) {
      plan.domains.push_back(std::move(domain));
    }
  }
  if (refused) {
    plan.domains.clear();
    plan.reply = std::string(kAtrnRefused);
  }
  return plan;
}

}  // namespace etrnd::etrn

#include "etrnd/etrn/etrn_policy.h"

#include "absl/strings/match.h"
#include "etrnd/common/strings.h"

namespace etrnd::etrn {
namespace {

using config::DomainEntry;
using config::DomainsTable;

EtrnPlan Refuse(EtrnPlan plan, std::string_view reason) {
  plan.reply = ReplyNotAllowed(plan.argument.as_sent, reason);
  return plan;
}

std::string_view WithoutTrailingDot(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  return domain;
}

// Case-insensitive "domain is root or below root", without allocating: called
// once per queued domain during a subtree flush.
bool InSubtree(std::string_view domain, std::string_view root) {
  domain = WithoutTrailingDot(domain);
  if (domain.size() == root.size()) return absl::EqualsIgnoreCase(AsAbsl(domain), AsAbsl(root));
  return domain.size() > root.size() && domain[domain.size() - root.size() - 1] == '.' &&
         absl::EndsWithIgnoreCase(AsAbsl(domain), AsAbsl(root));
}

EtrnPlan PlanNode(const DomainsTable& table, EtrnPlan plan, const IpAddress& client) {
  const DomainEntry* entry = table.Match(plan.argument.name);
  if (entry == nullptr) return Refuse(std::move(plan), kReasonNotServed);
  if (!entry->AllowsEtrn(client, plan.auth_user))
    return Refuse(std::move(plan), kReasonClientNotPermitted);
  return plan;
}

// "@D" needs an entry that owns D: the one RCPT uses for D, or ".D". Anything
// wider (a TLD, the parent of several customers) is not one customer's.
EtrnPlan PlanSubtree(const DomainsTable& table, EtrnPlan plan, const IpAddress& client) {
  const DomainEntry* served = table.Match(plan.argument.name);
  const DomainEntry* below = table.FindSubdomainsEntry(plan.argument.name);
  if (served == nullptr && below == nullptr) return Refuse(std::move(plan), kReasonNotServed);
  bool permitted = (served != nullptr && served->AllowsEtrn(client, plan.auth_user)) ||
                   (below != nullptr && below->AllowsEtrn(client, plan.auth_user));
  if (!permitted) return Refuse(std::move(plan), kReasonClientNotPermitted);
  return plan;
}

EtrnPlan PlanQueue(const DomainsTable& table, EtrnPlan plan, const IpAddress& client) {
  const auto& members = table.QueueMembers(plan.argument.name);
  if (members.empty()) return Refuse(std::move(plan), kReasonNoSuchQueue);
  for (const DomainEntry* entry : members) {
    if (entry->AllowsEtrn(client, plan.auth_user)) return plan;
  }
  return Refuse(std::move(plan), kReasonClientNotPermitted);
}

}  // namespace

EtrnPlan PlanEtrn(const DomainsTable& table, std::string_view argument, const IpAddress& client,
                  std::string_view auth_user) {
  EtrnPlan plan;
  plan.auth_user = std::string(auth_user);
  auto parsed = ParseEtrnArgument(argument);
  if (!parsed.ok()) {
    plan.reply = std::string(parsed.status().message());
    return plan;
  }
  plan.argument = *std::move(parsed);
  switch (plan.argument.form) {
    case EtrnForm::kNode:
      return PlanNode(table, std::move(plan), client);
    case EtrnForm::kSubtree:
      return PlanSubtree(table, std::move(plan), client);
    case EtrnForm::kQueue:
      return PlanQueue(table, std::move(plan), client);
  }
  return plan;
}

bool DomainAllowed(const DomainsTable& table, const EtrnPlan& plan, std::string_view domain,
                   const IpAddress& client) {
  if (plan.refused()) return false;
  const DomainEntry* entry = table.Match(domain);
  if (entry == nullptr || !entry->AllowsEtrn(client, plan.auth_user)) return false;
  switch (plan.argument.form) {
    case EtrnForm::kNode:
      return absl::EqualsIgnoreCase(AsAbsl(WithoutTrailingDot(domain)), AsAbsl(plan.argument.name));
    case EtrnForm::kSubtree:
      return InSubtree(domain, plan.argument.name);
    case EtrnForm::kQueue:
      return entry->queue_name == plan.argument.name;
  }
  return false;
}

}  // namespace etrnd::etrn

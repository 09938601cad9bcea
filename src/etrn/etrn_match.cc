#include "etrnd/etrn/etrn_match.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "etrnd/common/check.h"

namespace etrnd::etrn {
namespace {

using config::DomainEntry;
using config::DomainsTable;
using queue::DomainQueueIndex;
using queue::QueuedCounts;

// A sum of +/- cover counts; each domain ends up counted 0 or 1 times.
struct SignedCounts {
  int64_t messages = 0;
  int64_t held_messages = 0;
  int64_t domains = 0;
  int64_t held_domains = 0;

  void Add(const QueuedCounts& counts, int sign) {
    messages += sign * static_cast<int64_t>(counts.messages);
    held_messages += sign * static_cast<int64_t>(counts.held_messages);
    domains += sign * static_cast<int64_t>(counts.domains);
    held_domains += sign * static_cast<int64_t>(counts.held_domains);
  }
  QueuedCounts ToCounts() const {
    ETRND_CHECK(messages >= held_messages && held_messages >= 0 && domains >= held_domains &&
                held_domains >= 0);
    return QueuedCounts{static_cast<uint64_t>(messages), static_cast<uint64_t>(held_messages),
                        static_cast<uint32_t>(domains), static_cast<uint32_t>(held_domains)};
  }
};

// Does a domain whose Match() is `entry` take part? (nullptr: not served.)
bool Takes(const DomainEntry* entry, const EtrnPlan& plan, const EtrnAsker& asker) {
  if (entry == nullptr) return false;
  if (plan.argument.form == EtrnForm::kQueue && entry->queue_name != plan.argument.name) {
    return false;
  }
  return asker.operator_request || plan.from_peer ||
         entry->AllowsEtrn(asker.client, plan.auth_user);
}

// The queued domains an entry's pattern covers, whether or not it is
// their Match(): "x" covers x; ".x" covers everything below x.
QueuedCounts Cover(const DomainEntry& entry, const DomainQueueIndex& index) {
  if (!entry.subdomains_only) return index.CountsOf(entry.domain);
  QueuedCounts below = index.CountUnder(entry.domain);
  below -= index.CountsOf(entry.domain);
  return below;
}

// Covers nest (a pattern's cover is inside its nearest ".parent" entry's)
// and Match(d) is the innermost cover holding d. So the sum over queued d of
// takes(Match(d)) telescopes into a sum over entries of
// (takes(entry) - takes(parent entry)) x cover(entry): only entries whose
// answer differs from their parent's cost anything.
void AddEntry(const DomainsTable& table, const EtrnPlan& plan, const EtrnAsker& asker,
              const DomainQueueIndex& index, const DomainEntry& entry, SignedCounts* sum) {
  const int sign = (Takes(&entry, plan, asker) ? 1 : 0) -
                   (Takes(table.NearestSubdomainsEntryAbove(entry.domain), plan, asker) ? 1 : 0);
  if (sign != 0) sum->Add(Cover(entry, index), sign);
}

// Is `domain` inside the cover of another member of the queue?
bool InsideAnotherMember(const DomainsTable& table, const EtrnPlan& plan, std::string_view domain) {
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    const DomainEntry* above = table.FindSubdomainsEntry(domain.substr(dot + 1));
    if (above != nullptr && above->queue_name == plan.argument.name) return true;
  }
  return false;
}

QueuedCounts RootCounts(const EtrnWalkRoot& root, const DomainQueueIndex& index) {
  QueuedCounts counts = index.CountUnder(root.parent);
  const QueuedCounts own = index.CountsOf(root.parent);
  if (!root.include_below) return own;
  if (!root.include_parent) counts -= own;
  return counts;
}

}  // namespace

QueuedCounts CountEtrnMatches(const DomainsTable& table, const EtrnPlan& plan,
                              const EtrnAsker& asker, const DomainQueueIndex& index) {
  ETRND_CHECK(!plan.refused());
  const std::string& name = plan.argument.name;
  if (plan.argument.form == EtrnForm::kNode) return index.CountsOf(name);
  if (asker.operator_request) {
    QueuedCounts total;
    for (const EtrnWalkRoot& root : EtrnWalkRoots(table, plan)) total += RootCounts(root, index);
    return total;
  }
  SignedCounts sum;
  if (plan.argument.form == EtrnForm::kSubtree) {
    // The subtree as a whole falls under the nearest ".parent" above it;
    // the entries within it correct their parts.
    if (Takes(table.NearestSubdomainsEntryAbove(name), plan, asker)) {
      sum.Add(index.CountUnder(name), 1);
    }
    for (const DomainEntry* entry : table.EntriesWithin(name)) {
      AddEntry(table, plan, asker, index, *entry, &sum);
    }
    return sum.ToCounts();
  }
  // kQueue: the entries that differ from their parent are the members and
  // the entries within a ".member".
  absl::flat_hash_set<uint32_t> seen;
  for (const DomainEntry* member : table.QueueMembers(name)) {
    if (seen.insert(member->id).second) AddEntry(table, plan, asker, index, *member, &sum);
    if (!member->subdomains_only) continue;
    for (const DomainEntry* entry : table.EntriesWithin(member->domain)) {
      if (seen.insert(entry->id).second) AddEntry(table, plan, asker, index, *entry, &sum);
    }
  }
  return sum.ToCounts();
}

std::vector<EtrnWalkRoot> EtrnWalkRoots(const DomainsTable& table, const EtrnPlan& plan) {
  std::vector<EtrnWalkRoot> roots;
  switch (plan.argument.form) {
    case EtrnForm::kNode:
      break;
    case EtrnForm::kSubtree:
      roots.push_back(EtrnWalkRoot{plan.argument.name, true, true});
      break;
    case EtrnForm::kQueue:
      for (const DomainEntry* member : table.QueueMembers(plan.argument.name)) {
        if (InsideAnotherMember(table, plan, member->domain)) continue;
        roots.push_back(
            EtrnWalkRoot{member->domain, !member->subdomains_only, member->subdomains_only});
      }
      break;
  }
  return roots;
}

bool EtrnWalkTakes(const DomainsTable& table, const EtrnPlan& plan, const EtrnAsker& asker,
                   std::string_view domain) {
  if (asker.operator_request) return true;
  return DomainAllowed(table, plan, domain, asker.client);
}

}  // namespace etrnd::etrn

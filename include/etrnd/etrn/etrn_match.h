// What an accepted ETRN plan (etrn_policy.h) matches in one queue index
// shard, without visiting the queued domains: the reply's counts come from
// the index's subtree aggregates and the table's entries in O(table entries
// within the plan's scope), whatever is queued. The flush then walks the
// matched domains in slices: EtrnWalkRoots() says where, EtrnWalkTakes()
// which of the visited domains. Pure: no I/O, no reactor.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "etrnd/common/net_address.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/etrn/etrn_policy.h"
#include "etrnd/queue/domain_queue_index.h"
#include "etrnd/queue/queued_counts.h"

namespace etrnd::etrn {

// Who asks: a client under the plan's etrn=/auth= rules, or the operator
// (etrnctl flush: no etrn=/auth= list applies, and `@D` covers every queued
// domain under D, served or not, as a flush of D's subtree always has).
struct EtrnAsker {
  IpAddress client;
  bool operator_request = false;
};

// The matched domains' counts: `domains` of them, `held_domains` held.
// kNode: that domain's own counts (its entry was checked by the plan).
queue::QueuedCounts CountEtrnMatches(const config::DomainsTable& table, const EtrnPlan& plan,
                                     const EtrnAsker& asker, const queue::DomainQueueIndex& index);

// A subtree of the index the flush walks: `parent` itself and/or the
// domains below it. Disjoint from the other roots of the same plan.
struct EtrnWalkRoot {
  std::string parent;
  bool include_parent = true;
  bool include_below = true;
};
// kSubtree: the argument's subtree. kQueue: one root per member entry not
// already inside another member's ("a.b.com" inside ".b.com"). kNode: none.
std::vector<EtrnWalkRoot> EtrnWalkRoots(const config::DomainsTable& table, const EtrnPlan& plan);

// Does a domain the walk visits take part (the same rule as the counts)?
bool EtrnWalkTakes(const config::DomainsTable& table, const EtrnPlan& plan, const EtrnAsker& asker,
                   std::string_view domain);

}  // namespace etrnd::etrn

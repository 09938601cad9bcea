#include "etrnd/delivery/mx_list.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "etrnd/common/strings.h"

namespace etrnd::delivery {
namespace {

std::string NormalizeHost(std::string_view host) {
  if (host.ends_with('.')) host.remove_suffix(1);
  return absl::AsciiStrToLower(AsAbsl(host));
}

// Sorts by preference and shuffles each run of equal preference (RFC 5321
// 5.1: spreads load over equally preferred hosts).
void OrderByPreference(std::vector<MxRecord>* records, std::mt19937_64& rng) {
  std::sort(records->begin(), records->end(),
            [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  auto run_start = records->begin();
  while (run_start != records->end()) {
    auto run_end = std::find_if(run_start, records->end(), [&](const MxRecord& record) {
      return record.preference != run_start->preference;
    });
    std::shuffle(run_start, run_end, rng);
    run_start = run_end;
  }
}

}  // namespace

MxPlan PlanMxDelivery(std::string_view domain, std::vector<MxRecord> records,
                      std::string_view local_hostname, std::mt19937_64& rng) {
  for (MxRecord& record : records) record.host = NormalizeHost(record.host);
  // A null MX ("." -> "") is the domain saying it takes no mail. RFC 7505
  // forbids publishing it beside real MX records; if a domain does anyway,
  // the real ones win (deliverable mail is not bounced on a technicality).
  const size_t total = records.size();
  std::erase_if(records, [](const MxRecord& record) { return record.host.empty(); });
  if (total > 0 && records.empty()) return MxPlan{.kind = MxPlan::kNullMx, .hosts = {}};
  if (records.empty()) return MxPlan{.kind = MxPlan::kHosts, .hosts = {NormalizeHost(domain)}};

  const std::string local = NormalizeHost(local_hostname);
  if (!local.empty()) {
    int local_preference = -1;
    for (const MxRecord& record : records) {
      if (record.host == local && (local_preference < 0 || record.preference < local_preference)) {
        local_preference = record.preference;
      }
    }
    if (local_preference >= 0) {
      std::erase_if(records,
                    [&](const MxRecord& record) { return record.preference >= local_preference; });
      if (records.empty()) return MxPlan{.kind = MxPlan::kLocalIsBest, .hosts = {}};
    }
  }

  OrderByPreference(&records, rng);
  MxPlan plan;
  for (MxRecord& record : records) {
    if (plan.hosts.size() >= kMxHostsMax) break;
    if (std::find(plan.hosts.begin(), plan.hosts.end(), record.host) != plan.hosts.end()) continue;
    plan.hosts.push_back(std::move(record.host));
  }
  return plan;
}

}  // namespace etrnd::delivery

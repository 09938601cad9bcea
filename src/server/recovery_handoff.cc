#include "recovery_handoff.h"

#include <algorithm>
#include <utility>

#include "etrnd/queue/domain_queue_index.h"

namespace etrnd::server {

RecoveryHandOff::RecoveryHandOff(const spool::RecoveryResult& recovered, size_t shards, size_t self)
    : recovered_(recovered), owned_(recovered.domains.size()) {
  for (size_t id = 0; id < recovered.domains.size(); ++id) {
    owned_[id] = queue::ShardForDomain(recovered.domains[id], shards) == self;
  }
}

bool RecoveryHandOff::NextSlice(
    absl::FunctionRef<void(const spool::RecoveredMessage&)> on_message,
    absl::FunctionRef<void(const spool::RecoveredMessage&, const std::string& domain,
                           std::vector<uint32_t> indexes)>
        on_domain) {
  const size_t end = std::min(recovered_.messages.size(), cursor_ + kRecoveryHandOffSlice);
  // (domain id, recipient index) of one message's recipients owned here.
  std::vector<std::pair<uint32_t, uint32_t>> owned;
  for (; cursor_ < end; ++cursor_) {
    const spool::RecoveredMessage& message = recovered_.messages[cursor_];
    on_message(message);
    owned.clear();
    for (uint32_t i = 0; i < message.recipient_count; ++i) {
      const spool::RecoveredRecipient& recipient = recovered_.recipient(message, i);
      if (!recipient.finished && owned_[recipient.domain]) owned.emplace_back(recipient.domain, i);
    }
    std::sort(owned.begin(), owned.end());
    for (size_t first = 0; first < owned.size();) {
      std::vector<uint32_t> indexes;
      size_t next = first;
      for (; next < owned.size() && owned[next].first == owned[first].first; ++next) {
        indexes.push_back(owned[next].second);
      }
      on_domain(message, recovered_.domains[owned[first].first], std::move(indexes));
      first = next;
    }
  }
  return !done();
}

}  // namespace etrnd::server

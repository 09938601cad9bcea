#include "etrnd/qmgr/recovery_handoff.h"

#include <algorithm>
#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/queue/domain_queue_index.h"

namespace etrnd::qmgr {

RecoveryHandOff::RecoveryHandOff(const spool::RecoveryResult& recovered, size_t shards, size_t self)
    : recovered_(recovered),
      owned_(recovered.domains.size()),
      domain_start_(recovered.domains.size() + 1, 0) {
  for (size_t id = 0; id < recovered.domains.size(); ++id) {
    owned_[id] = queue::ShardForDomain(recovered.domains[id], shards) == self;
  }
  ETRND_CHECK(recovered.messages.size() <= UINT32_MAX);
  std::vector<uint32_t> domains;
  for (const spool::RecoveredMessage& message : recovered.messages) {
    OwnedDomains(message, &domains);
    for (uint32_t d : domains) ++domain_start_[d + 1];
  }
  for (size_t d = 1; d < domain_start_.size(); ++d) domain_start_[d] += domain_start_[d - 1];
  by_domain_.resize(domain_start_.back());
  std::vector<uint64_t> next(domain_start_.begin(), domain_start_.end() - 1);
  for (uint32_t m = 0; m < recovered.messages.size(); ++m) {
    OwnedDomains(recovered.messages[m], &domains);
    for (uint32_t d : domains) by_domain_[next[d]++] = m;
  }
}

// The distinct owned domains of the message's unfinished recipients.
void RecoveryHandOff::OwnedDomains(const spool::RecoveredMessage& message,
                                   std::vector<uint32_t>* out) const {
  out->clear();
  for (uint32_t i = 0; i < message.recipient_count; ++i) {
    const spool::RecoveredRecipient& recipient = recovered_.recipient(message, i);
    if (!recipient.finished && owned_[recipient.domain]) out->push_back(recipient.domain);
  }
  if (out->size() > 1) {
    std::sort(out->begin(), out->end());
    out->erase(std::unique(out->begin(), out->end()), out->end());
  }
}

bool RecoveryHandOff::NextSlice(RecoveryHandOffVisitor& visitor) {
  size_t budget = kRecoveryHandOffSlice;
  const size_t domain_count = recovered_.domains.size();
  while (budget > 0 && domain_cursor_ < domain_count) {
    const uint32_t d = static_cast<uint32_t>(domain_cursor_);
    const size_t end = domain_start_[d + 1];
    if (pair_cursor_ == domain_start_[d] && pair_cursor_ < end) {
      visitor.DomainBegin(d, recovered_.domains[d]);
    }
    for (; pair_cursor_ < end && budget > 0; ++pair_cursor_, --budget) {
      const spool::RecoveredMessage& message = recovered_.messages[by_domain_[pair_cursor_]];
      std::vector<uint32_t> indexes;
      for (uint32_t i = 0; i < message.recipient_count; ++i) {
        const spool::RecoveredRecipient& recipient = recovered_.recipient(message, i);
        if (!recipient.finished && recipient.domain == d) indexes.push_back(i);
      }
      visitor.Recipients(message, std::move(indexes));
    }
    if (pair_cursor_ < end) break;  // the slice ended inside this domain
    if (end > domain_start_[d]) visitor.DomainEnd();
    ++domain_cursor_;
  }
  if (domain_cursor_ < domain_count) return true;
  std::vector<uint32_t> domains;
  for (; message_cursor_ < recovered_.messages.size() && budget > 0; ++message_cursor_) {
    const spool::RecoveredMessage& message = recovered_.messages[message_cursor_];
    visitor.Message(message);
    OwnedDomains(message, &domains);
    for (uint32_t d : domains) visitor.Arrival(d, message);
    budget -= std::min(budget, std::max<size_t>(domains.size(), 1));
  }
  return message_cursor_ < recovered_.messages.size();
}

}  // namespace etrnd::qmgr

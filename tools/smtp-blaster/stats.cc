#include "etrnd/blaster/stats.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {

void ClientStats::Count(const TransactionResult& result, uint64_t content_bytes,
                        uint64_t elapsed_us) {
  if (result.kind == TransactionResult::Kind::kEtrn) {
    // Every answered ETRN counts for latency: a 458 or 459 is an answer too.
    if (result.final_code != 0) etrn_latency_us.Record(elapsed_us);
    if (result.ok) {
      ++etrn_ok;
    } else {
      ++etrn_failed;
      ++etrn_errors[result.error];
    }
    return;
  }
  for (int code : result.rejected_recipient_codes) {
    ++recipients_rejected;
    // A refused recipient of a message that still went through is an error
    // of its own; for a failed message the deciding code is counted below.
    if (result.ok) ++errors[absl::StrCat(code)];
  }
  if (result.ok) {
    ++messages_ok;
    bytes_ok += content_bytes;
    latency_us.Record(elapsed_us);
  } else {
    ++messages_failed;
    ++errors[result.error];
  }
}

void ClientStats::Merge(const ClientStats& other) {
  messages_ok += other.messages_ok;
  messages_failed += other.messages_failed;
  messages_unsent += other.messages_unsent;
  bytes_ok += other.bytes_ok;
  recipients_rejected += other.recipients_rejected;
  etrn_ok += other.etrn_ok;
  etrn_failed += other.etrn_failed;
  latency_us.Merge(other.latency_us);
  etrn_latency_us.Merge(other.etrn_latency_us);
  for (const auto& [key, count] : other.errors) errors[key] += count;
  for (const auto& [key, count] : other.etrn_errors) etrn_errors[key] += count;
}

std::string RecipientDomain(std::string_view address) {
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return "";
  return absl::AsciiStrToLower(AsAbsl(address.substr(at + 1)));
}

void SinkStats::Count(const ReceivedMessage& message) {
  ++messages;
  bytes += message.bytes;
  absl::flat_hash_set<std::string> domains;
  for (const std::string& recipient : message.recipients) {
    domains.insert(RecipientDomain(recipient));
  }
  for (const std::string& domain : domains) {
    DomainCounts& counts = per_domain[domain];
    ++counts.messages;
    counts.bytes += message.bytes;
  }
}

void SinkStats::Merge(const SinkStats& other) {
  messages += other.messages;
  bytes += other.bytes;
  connections += other.connections;
  for (const auto& [domain, counts] : other.per_domain) {
    DomainCounts& mine = per_domain[domain];
    mine.messages += counts.messages;
    mine.bytes += counts.bytes;
  }
}

}  // namespace etrnd::blaster

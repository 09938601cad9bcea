// Counters of one blaster thread (no locks on the hot path); merged across
// threads for progress lines and the final summary.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "etrnd/blaster/client_session.h"
#include "etrnd/blaster/histogram.h"
#include "etrnd/blaster/sink_session.h"

namespace etrnd::blaster {

struct ClientStats {
  uint64_t messages_ok = 0;
  uint64_t messages_failed = 0;
  uint64_t messages_unsent = 0;  // open loop: due but never started before the end
  uint64_t bytes_ok = 0;         // content bytes of accepted messages
  uint64_t recipients_rejected = 0;
  uint64_t etrn_ok = 0;
  uint64_t etrn_failed = 0;
  LatencyHistogram latency_us;
  LatencyHistogram etrn_latency_us;
  // Reply code (or "connect", "connection", "timeout", "protocol") -> count.
  std::map<std::string, uint64_t> errors;
  std::map<std::string, uint64_t> etrn_errors;

  // Counts one finished transaction that took elapsed_us.
  void Count(const TransactionResult& result, uint64_t content_bytes, uint64_t elapsed_us);
  void CountError(std::string_view key) { ++errors[std::string(key)]; }
  void Merge(const ClientStats& other);
};

struct DomainCounts {
  uint64_t messages = 0;
  uint64_t bytes = 0;
};

struct SinkStats {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t connections = 0;
  absl::flat_hash_map<std::string, DomainCounts> per_domain;

  // A message counts once for each distinct domain among its recipients.
  void Count(const ReceivedMessage& message);
  void Merge(const SinkStats& other);
};

// "User@Example.COM" -> "example.com"; "" when there is no '@'.
std::string RecipientDomain(std::string_view address);

}  // namespace etrnd::blaster

// The hand-off after recovery: each core takes the (domain, message) pairs
// of the domains it owns into its queue, in slices of kRecoveryHandOffSlice
// pairs.
//
// Two passes. First domain by domain (each domain's messages in spool
// order): at 1e7 recipients over 1e5 domains, walking in spool order would
// jump to another domain's index entry and state on every recipient (a
// cache miss each); grouped, they stay hot. Then in spool order for what
// must follow arrival: the expiry queue and the segment counts.
//
// When: on the core's own thread after Core::Init and before any core
// listens (server.cc), so no session can ask an ETRN of a shard that is
// still loading: counts are never partial. No reactor turn runs yet, so the
// slices bound the work per call for the caller, not a turn's latency. The
// cores hand off in parallel, each reading the shared, read-only result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "etrnd/spool/spool_recovery.h"

namespace etrnd::qmgr {

// (domain, message) pairs one slice of the hand-off visits: about 200 ns
// each, so a slice is a turn of about 0.4 ms (65536 made 13 ms turns).
inline constexpr size_t kRecoveryHandOffSlice = 2048;

class RecoveryHandOffVisitor {
 public:
  virtual ~RecoveryHandOffVisitor() = default;
  // First pass, per owned domain: DomainBegin, Recipients for each of its
  // messages (spool order), DomainEnd.
  virtual void DomainBegin(uint32_t domain_id, const std::string& domain) = 0;
  virtual void Recipients(const spool::RecoveredMessage& message,
                          std::vector<uint32_t> recipient_indexes) = 0;
  virtual void DomainEnd() = 0;
  // Second pass, spool order: every message, then its owned domains.
  virtual void Message(const spool::RecoveredMessage& message) = 0;
  virtual void Arrival(uint32_t domain_id, const spool::RecoveredMessage& message) = 0;
};

class RecoveryHandOff {
 public:
  // Groups this core's pairs by domain (a counting sort: 4 bytes a pair).
  RecoveryHandOff(const spool::RecoveryResult& recovered, size_t shards, size_t self);

  // Visits the next at most kRecoveryHandOffSlice pairs; false once done.
  bool NextSlice(RecoveryHandOffVisitor& visitor);

 private:
  void OwnedDomains(const spool::RecoveredMessage& message, std::vector<uint32_t>* out) const;

  const spool::RecoveryResult& recovered_;
  std::vector<bool> owned_;  // by domain id
  // Pairs grouped by domain: domain d's messages are
  // by_domain_[domain_start_[d], domain_start_[d + 1]).
  std::vector<uint64_t> domain_start_;
  std::vector<uint32_t> by_domain_;
  size_t domain_cursor_ = 0;   // first pass: domain id
  size_t pair_cursor_ = 0;     // first pass: into by_domain_
  size_t message_cursor_ = 0;  // second pass
};

}  // namespace etrnd::qmgr

// The hand-off after recovery: each core walks the recovered messages and
// takes the (domain, message) pairs of the domains it owns into its queue
// index, in slices of kRecoveryHandOffSlice messages.
//
// When: on the core's own thread after Core::Init and before any core
// listens (server.cc), so no session can ask an ETRN of a shard that is
// still loading: counts are never partial. No reactor turn runs yet, so the
// slices bound the work per call for the caller, not a turn's latency. The
// cores hand off in parallel, each reading the shared, read-only result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::server {

// Messages one slice of the hand-off walks.
inline constexpr size_t kRecoveryHandOffSlice = 65536;

class RecoveryHandOff {
 public:
  // Hashes each recovered domain once (not once per recipient).
  RecoveryHandOff(const spool::RecoveryResult& recovered, size_t shards, size_t self);

  // Visits the next at most kRecoveryHandOffSlice messages: `on_message`
  // for each, then `on_domain(message, domain, indexes)` for each of its
  // domains owned here with the indexes of its unfinished recipients there.
  // Returns false once every message was visited.
  bool NextSlice(absl::FunctionRef<void(const spool::RecoveredMessage&)> on_message,
                 absl::FunctionRef<void(const spool::RecoveredMessage&, const std::string& domain,
                                        std::vector<uint32_t> indexes)>
                     on_domain);

  bool done() const { return cursor_ >= recovered_.messages.size(); }

 private:
  const spool::RecoveryResult& recovered_;
  std::vector<bool> owned_;  // by domain id
  size_t cursor_ = 0;
};

}  // namespace etrnd::server

// Next-hop addresses that refused or dropped a connection attempt a moment
// ago. While an address is remembered here, other flush jobs routed to it
// defer without connecting (like Postfix's qmgr, which skips a dead
// destination for a while): 2e4 domains flushed by one `ETRN @parent` whose
// next hop is down then cost one connection attempt, not 2e4.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"

namespace etrnd::qmgr {

// How long a failed address is skipped. Short: a customer who comes online
// and sends ETRN again gets a real attempt within seconds.
inline constexpr absl::Duration kDeadTargetMemory = absl::Seconds(2);
// Addresses remembered at most (per core); past it expired ones are dropped,
// and when none has expired a new failure is not remembered.
inline constexpr size_t kDeadTargetsMax = 4096;

class DeadTargets {
 public:
  struct Failure {
    absl::Time at;
    std::string why;  // what the attempt reported ("connection refused", ...)
  };

  // The attempt to `target` failed before it was connected.
  void Record(const SocketAddress& target, absl::Time now, std::string why);
  // An attempt to `target` connected: it is alive again.
  void Forget(const SocketAddress& target);
  // The failure still remembered at `now`, if any.
  std::optional<Failure> Find(const SocketAddress& target, absl::Time now) const;
  size_t size() const { return failed_.size(); }

 private:
  void DropExpired(absl::Time now);

  absl::flat_hash_map<std::string, Failure> failed_;  // by SocketAddress::ToString()
};

}  // namespace etrnd::qmgr

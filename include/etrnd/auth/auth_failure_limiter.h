// SPEC 5: after kAuthFailuresMax failed AUTHs from one address within
// kAuthFailureWindow, AUTH from it is answered 454 for kAuthLockout. One
// table per core, single-threaded, no locks: the server glue tells every
// core of each failure (a cross-core message), so each core's table sees all
// of an address's failures wherever its connections land. Bounded: when
// full, the entry closest to expiry is replaced.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"

namespace etrnd::auth {

inline constexpr int kAuthFailuresMax = 5;
inline constexpr absl::Duration kAuthFailureWindow = absl::Seconds(60);
inline constexpr absl::Duration kAuthLockout = absl::Seconds(60);
inline constexpr size_t kAuthFailureAddressesMax = 16384;

class AuthFailureLimiter {
 public:
  explicit AuthFailureLimiter(size_t addresses_max = kAuthFailureAddressesMax);

  // True while AUTH from this address is refused with 454.
  bool Locked(const IpAddress& address, absl::Time now) const;
  void RecordFailure(const IpAddress& address, absl::Time now);
  size_t tracked() const { return entries_.size(); }

 private:
  struct Entry {
    absl::Time window_start;
    int failures = 0;
    absl::Time locked_until = absl::InfinitePast();
  };
  // When the entry stops mattering (its window and lockout are over).
  static absl::Time ExpiresAt(const Entry& entry);
  void MakeRoom(absl::Time now);

  size_t addresses_max_;
  absl::flat_hash_map<IpAddress, Entry> entries_;
};

}  // namespace etrnd::auth

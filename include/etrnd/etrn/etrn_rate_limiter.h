// Per-client ETRN rate limit (SPEC section 6): a token bucket per client
// address, so a flood of ETRN gets 458 instead of starving the server. Pure:
// the caller passes the time. Not thread-safe: in etrnd each core owns one
// limiter, and a client's bucket lives only on core ShardOf(client, cores),
// so the budget is exact whichever core the client's session landed on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"

namespace etrnd::etrn {

struct EtrnRateLimits {
  double burst = 10;             // ETRNs a fresh client may send at once
  double refill_per_second = 2;  // sustained ETRNs per second
  // Bound on memory (per limiter, so per core in etrnd): past it the least
  // recently seen client is forgotten.
  size_t tracked_clients_max = 16384;
  // IPv6 clients are grouped by this prefix: one host usually owns a whole /64.
  int ipv6_prefix_bits = 64;
};

class EtrnRateLimiter {
 public:
  explicit EtrnRateLimiter(EtrnRateLimits limits = EtrnRateLimits());

  // Takes one token from the client's bucket; false (reply 458) when empty.
  bool Allow(const IpAddress& client, absl::Time now);
  size_t tracked_clients() const { return buckets_.size(); }
  // The shard (of shard_count) that owns client's bucket: the same for every
  // address that shares a bucket (an IPv6 prefix), the same in every limiter
  // built with the same limits.
  size_t ShardOf(const IpAddress& client, size_t shard_count) const;

 private:
  using Key = std::array<uint8_t, 17>;  // family tag + address bytes
  struct Bucket {
    Key key;
    double tokens;
    absl::Time refilled_at;
  };
  Key KeyOf(const IpAddress& client) const;
  Bucket& Touch(const Key& key, absl::Time now);

  EtrnRateLimits limits_;
  std::list<Bucket> recency_;  // most recently seen first
  absl::flat_hash_map<Key, std::list<Bucket>::iterator> buckets_;
};

}  // namespace etrnd::etrn

#include "etrnd/etrn/etrn_rate_limiter.h"

#include <algorithm>
#include <cstring>

#include "etrnd/common/check.h"

namespace etrnd::etrn {

EtrnRateLimiter::EtrnRateLimiter(EtrnRateLimits limits) : limits_(limits) {
  limits_.tracked_clients_max = std::max<size_t>(limits_.tracked_clients_max, 1);
  limits_.ipv6_prefix_bits = std::clamp(limits_.ipv6_prefix_bits, 0, 128);
}

EtrnRateLimiter::Key EtrnRateLimiter::KeyOf(const IpAddress& client) const {
  IpAddress address = client.Unmapped();
  Key key{};
  key[0] = address.is_v4() ? 4 : 6;
  std::memcpy(key.data() + 1, address.bytes(), address.byte_count());
  if (address.is_v6()) {
    int bits = limits_.ipv6_prefix_bits;
    for (int i = 0; i < 16; ++i) {
      int keep = std::clamp(bits - i * 8, 0, 8);
      key[1 + i] &= static_cast<uint8_t>(0xff00 >> keep);
    }
  }
  return key;
}

EtrnRateLimiter::Bucket& EtrnRateLimiter::Touch(const Key& key, absl::Time now) {
  auto found = buckets_.find(key);
  if (found != buckets_.end()) {
    recency_.splice(recency_.begin(), recency_, found->second);
    return *found->second;
  }
  if (buckets_.size() >= limits_.tracked_clients_max) {
    buckets_.erase(recency_.back().key);
    recency_.pop_back();
  }
  recency_.push_front(Bucket{key, limits_.burst, now});
  buckets_.emplace(key, recency_.begin());
  return recency_.front();
}

size_t EtrnRateLimiter::ShardOf(const IpAddress& client, size_t shard_count) const {
  ETRND_CHECK(shard_count > 0);
  // FNV-1a: stable across processes and limiters (absl::Hash is seeded).
  uint64_t hash = 14695981039346656037ull;
  for (uint8_t byte : KeyOf(client)) {
    hash ^= byte;
    hash *= 1099511628211ull;
  }
  return static_cast<size_t>(hash % shard_count);
}

bool EtrnRateLimiter::Allow(const IpAddress& client, absl::Time now) {
  Bucket& bucket = Touch(KeyOf(client), now);
  // A clock that steps back refills nothing rather than draining the bucket.
  double elapsed_seconds = std::max(0.0, absl::ToDoubleSeconds(now - bucket.refilled_at));
  bucket.tokens =
      std::min(limits_.burst, bucket.tokens + elapsed_seconds * limits_.refill_per_second);
  bucket.refilled_at = std::max(bucket.refilled_at, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

}  // namespace etrnd::etrn

// Admission control shared by every reactor: --max_connections in total and
// --max_connections_per_ip. Connections from one address land on any core
// (SO_REUSEPORT hashes the 4-tuple), so the counts must be global; admission
// happens once per connection, off the per-byte hot path.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "etrnd/common/net_address.h"

namespace etrnd::server {

enum class Admission { kAdmitted, kTooManyTotal, kTooManyFromAddress };

class ConnectionLimiter {
 public:
  ConnectionLimiter(size_t max_total, size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // On kAdmitted the caller must call Release(address) when the session ends.
  Admission TryAdmit(const IpAddress& address);
  void Release(const IpAddress& address);
  size_t total() const { return total_.load(std::memory_order_relaxed); }

 private:
  const size_t max_total_;
  const size_t max_per_address_;
  std::atomic<size_t> total_{0};
  std::mutex mutex_;
  absl::flat_hash_map<IpAddress, size_t> per_address_;
};

}  // namespace etrnd::server

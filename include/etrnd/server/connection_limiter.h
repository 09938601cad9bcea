// Admission control shared by every reactor: --max_connections in total and
// --max_connections_per_ip. Connections from one address land on any core
// (SO_REUSEPORT hashes the 4-tuple), so the counts must be global; they take
// no lock: the total is one atomic, the per-address counts a fixed table of
// atomic counters indexed by the address's hash (kAddressCounterSlots).
//
// Both counts are raised with a compare-and-swap that fails at the limit, so
// neither is ever above its limit, whatever the threads do. Collision policy:
// two addresses whose hashes pick the same slot share that slot's count, so
// together they get at most --max_connections_per_ip; a colliding address
// may be refused early (421), never admitted beyond its limit. With 65536
// slots a collision needs two heavy clients in the same slot at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "etrnd/common/net_address.h"

namespace etrnd::server {

inline constexpr size_t kAddressCounterSlots = size_t{1} << 16;

enum class Admission { kAdmitted, kTooManyTotal, kTooManyFromAddress };

class ConnectionLimiter {
 public:
  ConnectionLimiter(size_t max_total, size_t max_per_address);

  // Thread-safe, lock-free. On kAdmitted the caller must call
  // Release(address) when the session ends, and only then.
  Admission TryAdmit(const IpAddress& address);
  void Release(const IpAddress& address);
  size_t total() const { return total_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t>& CounterOf(const IpAddress& address);

  const size_t max_total_;
  const uint32_t max_per_address_;
  alignas(64) std::atomic<size_t> total_{0};
  std::unique_ptr<std::atomic<uint32_t>[]> per_address_;  // kAddressCounterSlots
};

}  // namespace etrnd::server

#include "etrnd/server/connection_limiter.h"

namespace etrnd::server {

Admission ConnectionLimiter::TryAdmit(const IpAddress& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (total_.load(std::memory_order_relaxed) >= max_total_) return Admission::kTooManyTotal;
  size_t& count = per_address_[address];
  if (count >= max_per_address_) {
    if (count == 0) per_address_.erase(address);
    return Admission::kTooManyFromAddress;
  }
  ++count;
  total_.fetch_add(1, std::memory_order_relaxed);
  return Admission::kAdmitted;
}

void ConnectionLimiter::Release(const IpAddress& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = per_address_.find(address);
  if (it == per_address_.end()) return;
  if (--it->second == 0) per_address_.erase(it);
  total_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace etrnd::server

#include "etrnd/server/connection_limiter.h"

#include <algorithm>
#include <limits>

#include "absl/hash/hash.h"
#include "etrnd/common/check.h"

namespace etrnd::server {
namespace {

static_assert((kAddressCounterSlots & (kAddressCounterSlots - 1)) == 0);

// Raises counter by one unless it is already at limit.
template <typename T>
bool IncrementBelow(std::atomic<T>& counter, T limit) {
  T value = counter.load(std::memory_order_relaxed);
  do {
    if (value >= limit) return false;
  } while (!counter.compare_exchange_weak(value, value + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
  return true;
}

// Lowers counter by one unless it is zero; false when it was zero.
template <typename T>
bool DecrementAboveZero(std::atomic<T>& counter) {
  T value = counter.load(std::memory_order_relaxed);
  do {
    if (value == 0) return false;
  } while (!counter.compare_exchange_weak(value, value - 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
  return true;
}

}  // namespace

ConnectionLimiter::ConnectionLimiter(size_t max_total, size_t max_per_address)
    : max_total_(max_total),
      max_per_address_(static_cast<uint32_t>(
          std::min<size_t>(max_per_address, std::numeric_limits<uint32_t>::max()))),
      per_address_(new std::atomic<uint32_t>[kAddressCounterSlots]) {
  for (size_t i = 0; i < kAddressCounterSlots; ++i) {
    per_address_[i].store(0, std::memory_order_relaxed);
  }
}

std::atomic<uint32_t>& ConnectionLimiter::CounterOf(const IpAddress& address) {
  const size_t slot = absl::Hash<IpAddress>{}(address) & (kAddressCounterSlots - 1);
  return per_address_[slot];
}

// The address first, then the total: a refusal for the total undoes the
// address's count. Between the two steps a count is held that may refuse a
// concurrent request from the same slot; it can never admit one too many.
Admission ConnectionLimiter::TryAdmit(const IpAddress& address) {
  if (total_.load(std::memory_order_relaxed) >= max_total_) return Admission::kTooManyTotal;
  std::atomic<uint32_t>& counter = CounterOf(address);
  if (!IncrementBelow(counter, max_per_address_)) return Admission::kTooManyFromAddress;
  if (!IncrementBelow(total_, max_total_)) {
    ETRND_CHECK(DecrementAboveZero(counter));
    return Admission::kTooManyTotal;
  }
  return Admission::kAdmitted;
}

void ConnectionLimiter::Release(const IpAddress& address) {
  // An address that holds nothing (never admitted) changes nothing.
  if (!DecrementAboveZero(CounterOf(address))) return;
  ETRND_CHECK(DecrementAboveZero(total_));
}

}  // namespace etrnd::server

#include "etrnd/auth/auth_failure_limiter.h"

#include <algorithm>

#include "etrnd/common/check.h"

namespace etrnd::auth {

AuthFailureLimiter::AuthFailureLimiter(size_t addresses_max) : addresses_max_(addresses_max) {
  ETRND_CHECK(addresses_max_ > 0);
}

absl::Time AuthFailureLimiter::ExpiresAt(const Entry& entry) {
  return std::max(entry.window_start + kAuthFailureWindow, entry.locked_until);
}

bool AuthFailureLimiter::Locked(const IpAddress& address, absl::Time now) const {
  auto it = entries_.find(address.Unmapped());
  return it != entries_.end() && now < it->second.locked_until;
}

void AuthFailureLimiter::RecordFailure(const IpAddress& address, absl::Time now) {
  const IpAddress key = address.Unmapped();
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= addresses_max_) MakeRoom(now);
    it = entries_.emplace(key, Entry{.window_start = now}).first;
  }
  Entry& entry = it->second;
  if (now - entry.window_start > kAuthFailureWindow) {
    entry.window_start = now;
    entry.failures = 0;
  }
  ++entry.failures;
  if (entry.failures >= kAuthFailuresMax) {
    entry.locked_until = now + kAuthLockout;
    // The lockout is a new start: failures before it do not count again.
    entry.failures = 0;
    entry.window_start = now;
  }
  ETRND_CHECK(entries_.size() <= addresses_max_);
  ETRND_CHECK(entry.failures < kAuthFailuresMax);
}

// Only when the table is full: forget expired entries, else the one that
// would expire first. O(entries), and each call follows a failed crypt(3).
void AuthFailureLimiter::MakeRoom(absl::Time now) {
  absl::erase_if(entries_, [now](const auto& item) { return ExpiresAt(item.second) <= now; });
  if (entries_.size() < addresses_max_) return;
  auto oldest = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (ExpiresAt(it->second) < ExpiresAt(oldest->second)) oldest = it;
  }
  entries_.erase(oldest);
}

}  // namespace etrnd::auth

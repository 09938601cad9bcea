#include "dead_targets.h"

#include <utility>

#include "absl/container/flat_hash_map.h"

namespace etrnd::qmgr {

void DeadTargets::Record(const SocketAddress& target, absl::Time now, std::string why) {
  std::string key = target.ToString();
  if (!failed_.contains(key) && failed_.size() >= kDeadTargetsMax) {
    DropExpired(now);
    if (failed_.size() >= kDeadTargetsMax) return;  // bounded: this one is tried again
  }
  failed_[std::move(key)] = Failure{now, std::move(why)};
}

void DeadTargets::Forget(const SocketAddress& target) {
  if (failed_.empty()) return;
  failed_.erase(target.ToString());
}

std::optional<DeadTargets::Failure> DeadTargets::Find(const SocketAddress& target,
                                                      absl::Time now) const {
  if (failed_.empty()) return std::nullopt;
  auto it = failed_.find(target.ToString());
  if (it == failed_.end() || now - it->second.at >= kDeadTargetMemory) return std::nullopt;
  return it->second;
}

void DeadTargets::DropExpired(absl::Time now) {
  absl::erase_if(failed_,
                 [now](const auto& entry) { return now - entry.second.at >= kDeadTargetMemory; });
}

}  // namespace etrnd::qmgr

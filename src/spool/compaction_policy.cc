#include "etrnd/spool/compaction_policy.h"

namespace etrnd::spool {

bool IsCompactionCandidate(const SegmentUsage& usage, const CompactionPolicy& policy,
                           absl::Time now) {
  if (policy.live_percent_max == 0 || usage.live_bytes == 0 || usage.total_bytes == 0) {
    return false;
  }
  if (now - usage.sealed_at < policy.min_age) return false;
  // live / total < percent / 100, in integers (bytes stay far below 2^57).
  return usage.live_bytes * 100 < usage.total_bytes * policy.live_percent_max;
}

std::optional<SegmentKey> ChooseCompactionVictim(std::span<const SegmentUsage> sealed,
                                                 const CompactionPolicy& policy, absl::Time now,
                                                 absl::FunctionRef<bool(SegmentKey)> excluded) {
  const SegmentUsage* best = nullptr;
  for (const SegmentUsage& usage : sealed) {
    if (!IsCompactionCandidate(usage, policy, now) || excluded(usage.segment)) continue;
    if (best == nullptr) {
      best = &usage;
      continue;
    }
    // Only an order is needed: a double's 53 bits are plenty.
    const double mine = static_cast<double>(usage.live_bytes) / usage.total_bytes;
    const double theirs = static_cast<double>(best->live_bytes) / best->total_bytes;
    if (mine < theirs || (mine == theirs && usage.segment.segment_id < best->segment.segment_id)) {
      best = &usage;
    }
  }
  if (best == nullptr) return std::nullopt;
  return best->segment;
}

}  // namespace etrnd::spool

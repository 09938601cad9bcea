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

CompactionVictimWalk::Step CompactionVictimWalk::Next(const SegmentTracker& tracker,
                                                      const CompactionPolicy& policy,
                                                      absl::Time now,
                                                      absl::FunctionRef<bool(SegmentKey)> excluded,
                                                      size_t slice) {
  slice_.clear();
  const bool end = tracker.SealedUsageAfter(&cursor_, slice, &slice_);
  // The best so far competes with this slice (ties: the lower id wins, as
  // in one pass over everything).
  if (best_.has_value()) slice_.push_back(*best_);
  const std::optional<SegmentKey> chosen = ChooseCompactionVictim(slice_, policy, now, excluded);
  best_.reset();
  if (chosen.has_value()) {
    for (const SegmentUsage& usage : slice_) {
      if (usage.segment == *chosen) best_ = usage;
    }
  }
  if (!end) return Step{};
  Step step{.pass_done = true, .victim = std::move(best_)};
  best_.reset();
  // Found in an earlier slice, emptied since (GC removed it): no victim.
  if (step.victim.has_value() && !tracker.Exists(step.victim->segment)) step.victim.reset();
  return step;
}

}  // namespace etrnd::spool

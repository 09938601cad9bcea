// Which sealed segment to compact next: the one whose live bytes are the
// smallest part of it, among those under the live-fraction threshold and
// sealed long enough ago that their mail had its first delivery attempt
// (a freshly sealed segment mostly empties by itself). Pure: the driver
// (src/server/segment_compactor.cc) supplies the numbers and the clock, and
// walks the tracker's sealed segments in slices (CompactionVictimWalk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "etrnd/spool/segment_tracker.h"

namespace etrnd::spool {

// Default --compaction_live_percent: a segment less than this much alive is
// rewritten (its live mail moves to the current segment).
inline constexpr uint32_t kCompactionLivePercentDefault = 25;
// Sealed segments the victim walk looks at per loop turn: a spool of 1e5
// segments must not hold the compactor's core for one turn.
inline constexpr size_t kCompactionChooseSlice = 1024;
// A segment sealed less than this long ago is left alone.
inline constexpr absl::Duration kCompactionMinAge = absl::Seconds(2);

struct CompactionPolicy {
  uint32_t live_percent_max = kCompactionLivePercentDefault;  // 0: never compact
  absl::Duration min_age = kCompactionMinAge;
};

// True when the segment qualifies (sealed long enough, live part small).
bool IsCompactionCandidate(const SegmentUsage& usage, const CompactionPolicy& policy,
                           absl::Time now);

// The candidate with the smallest live fraction (ties: the oldest segment
// id), skipping those `excluded` says; nullopt when none qualifies.
std::optional<SegmentKey> ChooseCompactionVictim(std::span<const SegmentUsage> sealed,
                                                 const CompactionPolicy& policy, absl::Time now,
                                                 absl::FunctionRef<bool(SegmentKey)> excluded);

// ChooseCompactionVictim over a tracker's sealed segments, a slice per Step
// (a cursor in key order), keeping the best candidate so far. A pass ends
// with a victim, or none; the next Step starts a new pass.
class CompactionVictimWalk {
 public:
  struct Step {
    bool pass_done = false;
    std::optional<SegmentUsage> victim;  // set only when pass_done
  };
  Step Next(const SegmentTracker& tracker, const CompactionPolicy& policy, absl::Time now,
            absl::FunctionRef<bool(SegmentKey)> excluded, size_t slice = kCompactionChooseSlice);

 private:
  std::optional<SegmentKey> cursor_;
  std::optional<SegmentUsage> best_;
  std::vector<SegmentUsage> slice_;  // reused between steps
};

}  // namespace etrnd::spool

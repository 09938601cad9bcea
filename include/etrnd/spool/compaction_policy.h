// Which sealed segment to compact next: the one whose live bytes are the
// smallest part of it, among those under the live-fraction threshold and
// sealed long enough ago that their mail had its first delivery attempt
// (a freshly sealed segment mostly empties by itself). Pure: the driver
// (src/server/segment_compactor.cc) supplies the numbers and the clock.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "etrnd/spool/segment_tracker.h"

namespace etrnd::spool {

// Default --compaction_live_percent: a segment less than this much alive is
// rewritten (its live mail moves to the current segment).
inline constexpr uint32_t kCompactionLivePercentDefault = 25;
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

}  // namespace etrnd::spool

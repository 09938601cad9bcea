// Age buckets of `etrnctl queue`, after Postfix's qshape: each column counts
// the messages whose age is below its bound and at least the previous one;
// the last column is everything older. Pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace etrnd::control {

// Upper bounds (minutes) of all but the last bucket.
inline constexpr std::array<int64_t, 9> kQshapeBoundsMinutes = {5,   10,  20,  40,  80,
                                                                160, 320, 640, 1280};
inline constexpr size_t kQshapeBuckets = kQshapeBoundsMinutes.size() + 1;

using QshapeCounts = std::array<uint64_t, kQshapeBuckets>;

// The bucket of a message of this age (a negative age, clock skew, is 0).
size_t QshapeBucket(absl::Duration age);
// "5m", "10m", ..., "1280m", "1280m+".
std::string QshapeLabel(size_t bucket);

}  // namespace etrnd::control

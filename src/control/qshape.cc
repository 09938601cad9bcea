#include "etrnd/control/qshape.h"

#include "etrnd/common/check.h"

namespace etrnd::control {

size_t QshapeBucket(absl::Duration age) {
  for (size_t i = 0; i < kQshapeBoundsMinutes.size(); ++i) {
    if (age < absl::Minutes(kQshapeBoundsMinutes[i])) return i;
  }
  return kQshapeBuckets - 1;
}

std::string QshapeLabel(size_t bucket) {
  ETRND_CHECK(bucket < kQshapeBuckets);
  if (bucket + 1 == kQshapeBuckets) {
    return std::to_string(kQshapeBoundsMinutes.back()) + "m+";
  }
  return std::to_string(kQshapeBoundsMinutes[bucket]) + "m";
}

}  // namespace etrnd::control

// The Prometheus text exposition format, version 0.0.4: # HELP and # TYPE
// for every family, then its samples; histograms as cumulative _bucket
// lines (le="+Inf" last), _sum and _count.
#pragma once

#include <string>
#include <string_view>

#include "etrnd/metrics/registry.h"

namespace etrnd::metrics {

inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderText(const Registry& registry);

// A sample value: integers without a fraction, others in %g form, +Inf.
std::string FormatValue(double value);

}  // namespace etrnd::metrics

// Human and machine summaries of a run. The JSON shapes are a contract
// (SPEC section 7, docs/smtp-blaster.md): one object, keys as written here.
#pragma once

#include <string>
#include <string_view>

#include "etrnd/blaster/histogram.h"
#include "etrnd/blaster/stats.h"

namespace etrnd::blaster {

// JSON string literal, quotes included.
std::string JsonString(std::string_view text);
// {"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"min":..,"mean":..,"count":..}
std::string LatencyJson(const LatencyHistogram& histogram);

std::string ClientSummaryJson(const ClientStats& stats, double seconds);
std::string ClientSummaryText(const ClientStats& stats, double seconds);
// One progress line: rate over the last interval, p99 so far, errors.
std::string ClientProgressLine(const ClientStats& total, uint64_t ok_in_interval,
                               double interval_seconds, double elapsed_seconds);

std::string SinkSummaryJson(const SinkStats& stats, double seconds);
std::string SinkSummaryText(const SinkStats& stats, double seconds);

}  // namespace etrnd::blaster

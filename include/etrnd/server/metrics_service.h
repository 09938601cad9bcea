// Wiring of the metrics (src/metrics) into the cores: the /metrics listener
// on each core, the scrape that gathers every core's snapshot through Post()
// and renders it on the core that got the request, and the spool size
// sampler thread (stat calls stay off the reactor threads).
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etrnd/metrics/core_metrics.h"

namespace etrnd::server {

class Core;
struct ServerContext;

// How stale etrnd_spool_bytes may be.
inline constexpr absl::Duration kSpoolBytesSampleInterval = absl::Seconds(1);

// On the core's thread before Run(), when --metrics_listen is set: listens
// and starts observing the loop turns.
absl::Status StartMetricsEndpoint(Core& core);

// This core's numbers, on its own thread.
metrics::CoreSnapshot SnapshotCore(Core& core);

// Posts SnapshotCore to every core and calls done(text) on `origin`'s
// thread once all have answered.
void GatherMetrics(Core& origin, std::function<void(std::string text)> done);

// Starts the thread that sums the sizes of the spool's segment files and
// completion logs into context.spool_bytes every kSpoolBytesSampleInterval.
void StartSpoolBytesSampler(ServerContext& context);

}  // namespace etrnd::server

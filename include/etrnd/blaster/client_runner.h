// Runs a client load: one reactor thread per --threads, each with its share
// of sessions and messages; prints progress once a second; merges the
// threads' stats at the end.
#pragma once

#include <atomic>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/blaster/client_options.h"
#include "etrnd/blaster/client_worker.h"
#include "etrnd/blaster/stats.h"

namespace etrnd::blaster {

struct ClientRunResult {
  ClientStats stats;
  double seconds = 0;
};

// Blocks until done, or until *stop_requested turns true (then in-flight
// messages finish and sessions QUIT).
absl::StatusOr<ClientRunResult> RunClient(const ClientOptions& options,
                                          const std::atomic<bool>* stop_requested);

}  // namespace etrnd::blaster

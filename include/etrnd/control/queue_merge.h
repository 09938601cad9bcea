// etrnctl queue --all-nodes: the per-domain rows of several nodes' `queue
// --json` bodies (RenderQueue's exact shape) read back and summed per
// domain. Pure; the client does the I/O.
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/control/control_render.h"

namespace etrnd::control {

// The "domains" object of one `queue --json` body. InvalidArgument when the
// body is not that shape.
absl::StatusOr<std::vector<DomainSummary>> ParseQueueJson(std::string_view body);

// One row per domain: counts, bytes and ages summed, the oldest age the
// largest, the next attempt the soonest, the state kept when every node
// agrees and "mixed" otherwise.
std::vector<DomainSummary> MergeQueues(const std::vector<std::vector<DomainSummary>>& nodes);

}  // namespace etrnd::control

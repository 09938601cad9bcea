// Reads spool records through a core's io_uring (Reactor::OpenAt / Read /
// CloseFile): a reactor thread never makes a blocking read for etrnctl.
// Each segment file is opened once per call; at most kRingReadsInFlightMax
// reads are in flight.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::server {

inline constexpr size_t kRingReadsInFlightMax = 64;

// Runs on `reactor`'s thread; done(results) gets one entry per location, in
// the same order: the record's bytes (at most `bytes_max` from its start;
// 0 = the whole record), or the error (a segment removed meanwhile:
// NotFound).
void ReadSpoolRecords(reactor::Reactor& reactor, std::string spool_dir,
                      std::vector<spool::RecordLocation> locations, size_t bytes_max,
                      std::function<void(std::vector<absl::StatusOr<std::string>>)> done);

}  // namespace etrnd::server

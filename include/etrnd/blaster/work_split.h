// How a client run is divided among reactor threads.
#pragma once

#include <cstdint>
#include <vector>

#include "etrnd/blaster/client_options.h"

namespace etrnd::blaster {

// A thread's part of the run.
struct WorkerShare {
  int connections = 0;
  uint64_t messages = 0;           // 0 = no limit
  double rate = 0;                 // 0 = closed loop
  int64_t schedule_offset_ns = 0;  // interleaves the threads' open-loop schedules
};

// Never a thread with no session, and never one with an unlimited quota
// when a limit was set; connections and messages add up exactly.
std::vector<WorkerShare> SplitWork(const ClientOptions& options);

}  // namespace etrnd::blaster

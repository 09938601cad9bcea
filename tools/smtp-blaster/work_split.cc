#include "etrnd/blaster/work_split.h"

#include <algorithm>

namespace etrnd::blaster {

std::vector<WorkerShare> SplitWork(const ClientOptions& options) {
  int threads = std::clamp(options.threads, 1, std::max(options.connections, 1));
  if (options.messages > 0) {
    threads =
        static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(threads), options.messages));
  }
  std::vector<WorkerShare> shares(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    WorkerShare& share = shares[static_cast<size_t>(i)];
    share.connections = options.connections / threads + (i < options.connections % threads);
    if (options.messages > 0) {
      share.messages =
          options.messages / static_cast<uint64_t>(threads) +
          (static_cast<uint64_t>(i) < options.messages % static_cast<uint64_t>(threads));
    }
    if (options.rate > 0) {
      share.rate = options.rate / threads;
      // Thread i's schedule is shifted by i/threads of its interval, so the
      // merged schedule stays evenly spaced at the total rate.
      share.schedule_offset_ns = static_cast<int64_t>(1e9 / options.rate * i);
    }
  }
  return shares;
}

}  // namespace etrnd::blaster

// What every core of one etrnd process shares: the options, global admission
// counts, the list of cores (to post work to a domain's owner) and the ETRN
// rate limiter. Cores never touch each other's state except through Post().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "etrnd/etrn/etrn_rate_limiter.h"
#include "etrnd/server/connection_limiter.h"
#include "etrnd/server/server_options.h"

namespace etrnd::server {

class Core;

struct ServerContext {
  explicit ServerContext(ServerOptions server_options);

  const ServerOptions options;
  ConnectionLimiter limiter;
  std::vector<std::unique_ptr<Core>> cores;
  std::atomic<bool> shutting_down{false};

  // ETRN is rare next to mail, so one limiter behind a mutex keeps the
  // per-client budget exact whichever core the client lands on.
  std::mutex etrn_limiter_mutex;
  etrn::EtrnRateLimiter etrn_limiter;

  // Written by the spool size sampler thread (metrics), read by scrapes.
  std::atomic<uint64_t> spool_bytes{0};

  Core& core(size_t index) { return *cores[index]; }
  size_t core_count() const { return cores.size(); }
};

}  // namespace etrnd::server

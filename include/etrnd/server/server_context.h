// What every core of one etrnd process shares: the options, the global
// admission counts (lock-free), the list of cores (to send work to a
// domain's owner) and the mesh their reactors send it through. Cores never
// touch each other's state except through Reactor::PostTo().
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "etrnd/auth/credential_verifier.h"
#include "etrnd/reactor/reactor_mesh.h"
#include "etrnd/server/connection_limiter.h"
#include "etrnd/server/server_options.h"

namespace etrnd::server {

class Core;

struct ServerContext {
  explicit ServerContext(ServerOptions server_options);

  const ServerOptions options;
  ConnectionLimiter limiter;
  std::vector<std::unique_ptr<Core>> cores;
  // One queue per ordered pair of cores; every core joins before any accepts.
  std::unique_ptr<reactor::ReactorMesh> mesh;
  std::atomic<bool> shutting_down{false};
  // The operator's holds read from the spool at start-up (etrnctl hold).
  std::vector<std::string> holds;

  // Written by the spool size sampler thread (metrics), read by scrapes.
  std::atomic<uint64_t> spool_bytes{0};
  // SMTP AUTH's crypt(3) worker (--auth_file only; else null). Declared
  // after the cores so that it is destroyed (joined) before them: its
  // answers are posted to their reactors.
  std::unique_ptr<auth::CredentialVerifier> verifier;

  Core& core(size_t index) { return *cores[index]; }
  size_t core_count() const { return cores.size(); }
};

}  // namespace etrnd::server

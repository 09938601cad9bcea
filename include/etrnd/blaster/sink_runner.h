// Sink mode: accepts mail on --listen with one reactor per thread, counts
// it (and stores it with --sink_dir) until asked to stop or --duration ends.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/blaster/sink_session.h"
#include "etrnd/blaster/stats.h"
#include "etrnd/common/net_address.h"
#include "etrnd/transport/tls_context.h"

namespace etrnd::blaster {

struct SinkOptions {
  SocketAddress listen;
  int threads = 1;
  SinkSessionConfig session;
  double fail_fraction = 1.0;  // of RCPTs / messages that get the fail codes
  std::string store_dir;       // empty = do not store
  // Offers STARTTLS with this server context (session.starttls set too).
  std::shared_ptr<const transport::TlsContext> tls_context;
  absl::Duration duration;  // zero = until *stop_requested
  bool progress = true;
  // Called once every thread listens, with the bound address (port 0
  // resolved); from the calling thread, before RunSink starts waiting.
  std::function<void(const SocketAddress&)> on_listening;
};

struct SinkRunResult {
  SinkStats stats;
  double seconds = 0;
};

// Blocks until *stop_requested turns true or the duration ends. Fails at
// once when the address cannot be bound. Prints "listening on <addr>" on
// stderr once connections are accepted.
absl::StatusOr<SinkRunResult> RunSink(const SinkOptions& options,
                                      const std::atomic<bool>* stop_requested);

}  // namespace etrnd::blaster

// QueueService's per-domain schedule, shared by queue_service.cc (delivery)
// and queue_control.cc (etrnctl). Internal to src/server.
#pragma once

#include <string>

#include "absl/container/flat_hash_set.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/queue/message_key.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/server/queue_service.h"

namespace etrnd::server {

struct QueueService::DomainState {
  std::string name;
  // Messages routed by MX while the domain has no table entry: bounces (null
  // sender) queued when the domain was not served. Everything else here was
  // accepted for a served domain and waits while its entry is gone.
  absl::flat_hash_set<queue::MessageKey> routed_when_unserved;
  delivery::RetryState retry;
  reactor::Reactor::TimerId timer = 0;
  bool flushing = false;
  bool flush_again = false;  // mail arrived during the flush
  std::string last_error;    // of the last flush that failed (etrnctl list)
};

}  // namespace etrnd::server

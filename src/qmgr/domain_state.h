// QueueService's per-domain schedule, shared by the delivery side
// (domain_schedule.cc, flush_job.cc) and queue_control.cc (etrnctl).
// Internal to src/qmgr.
#pragma once

#include <string>

#include "absl/container/flat_hash_set.h"
#include "etrnd/delivery/retry_schedule.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/queue/message_key.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::qmgr {

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
  // The customer asked for this domain by name (ETRN host): its next flush
  // connects even to an address that just failed (ConnectGate).
  bool etrn_named = false;
  // Completion records of this domain written but not yet durable (the
  // index still lists their recipients): compaction must not move the
  // domain's mail meanwhile, or the finish would land on the old copy.
  uint32_t finishing = 0;
  std::string last_error;  // of the last flush that failed (etrnctl list)
};

}  // namespace etrnd::qmgr

// What the queue manager needs of the core it runs on: its loop, the options
// it delivers by, the domains table, the spool writer (messages and
// completion records), next-hop routes, outbound connections and the other
// cores' queues. server::Core provides it (src/server/queue_core_services.cc);
// the unit tests of src/qmgr fake everything but the reactor, so qmgr never
// includes src/server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etrnd/common/net_address.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/delivery/next_hop_resolver.h"
#include "etrnd/metrics/core_metrics.h"
#include "etrnd/qmgr/delivery_connection.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"
#include "etrnd/spool/spool_recovery.h"
#include "etrnd/transport/tls_context.h"

namespace etrnd::qmgr {

class QueueService;

// The flags the queue manager works by (a copy of the server's).
struct QueueOptions {
  std::string spool_dir;
  std::string hostname;    // HELO, and the reporting MTA of bounces
  std::string postmaster;  // its domain may be routed by MX when unserved
  absl::Duration max_queue_lifetime = absl::Hours(24 * 5);
  absl::Duration retry_initial = absl::Minutes(5);
  absl::Duration retry_max = absl::Hours(4);
  absl::Duration delivery_timeout = absl::Seconds(60);
  size_t connections_per_destination = 4;
  size_t messages_per_connection = 100;
};

// One outbound SMTP connection a flush job asks for.
struct DeliveryAttempt {
  SocketAddress target;
  smtp::ClientSession::Options client_options;
  std::vector<smtp::OutboundMessage> messages;  // their data outlives `finished`
  DeliveryTls tls;
  absl::Duration timeout;
  DeliveryConnection::OutcomeSink outcomes;  // one per recipient, as answered
  DeliveryConnection::Finished finished;     // once, after the last outcome
  // Once the TCP connection is up (never when the connect fails); may be empty.
  std::function<void()> connected = {};
  // Connect even if this address failed a moment ago (ConnectGate's dead
  // targets): the customer's own ETRN says its host is up now.
  bool retry_dead_target = false;
};

class CoreServices {
 public:
  virtual ~CoreServices() = default;

  // This core's number and how many there are (domains are sharded by
  // queue::ShardForDomain over core_count()).
  virtual int index() const = 0;
  virtual size_t core_count() const = 0;
  // The loop this queue runs on: timers, posts, connections, file ops.
  virtual reactor::Reactor& reactor() = 0;
  virtual const QueueOptions& options() const = 0;
  // The current domains table snapshot (replaced whole on a reload).
  virtual const config::DomainsTable& table() const = 0;
  virtual metrics::CoreMetrics& metrics() = 0;

  // Runs fn with core `target`'s queue, later, on that core's thread (in
  // order per target).
  virtual void SendToQueue(int target, std::function<void(QueueService&)> fn) = 0;

  virtual std::string NewQueueId() = 0;
  // Stores a message etrnd makes itself (a bounce) in this core's segment;
  // done gets its queue id once durable, or the error.
  virtual void StoreMessage(spool::SpoolMessage message,
                            std::function<void(absl::StatusOr<std::string>)> done) = 0;
  // Appends a completion record; done runs once it is durable (or failed).
  virtual void AppendCompletion(const spool::SpoolCompletion& completion,
                                std::function<void(absl::Status)> done) = 0;
  // fsync of the spool directory through the ring (unlinks made durable).
  virtual void SyncSpoolDirectoryThen(std::function<void(bool synced)> then) = 0;
  // Tells core `target` (this one: at once) that `segments` are unlinked
  // durably, so its completion logs that pointed only into them can go.
  virtual void TellSegmentsRemoved(int target, std::vector<spool::SegmentKey> segments) = 0;
  // Start-up: the completion log recovery wrote (if any) is removed, like
  // the running logs, once the segments it points into are gone.
  virtual void AdoptRecoveredCompletionLog(const spool::RecoveryResult& recovered) = 0;

  // Where to connect for a domain's next hop, most preferred first.
  virtual void ResolveNextHop(
      const std::string& domain, const config::NextHop& next_hop,
      std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done) = 0;
  // The client TLS context for outbound STARTTLS (verifying for
  // tls=verify); null: no TLS.
  virtual std::shared_ptr<const transport::TlsContext> ClientTls(bool verify) const = 0;
  // Opens one outbound connection (a DeliveryConnection on the reactor).
  virtual void Deliver(DeliveryAttempt attempt) = 0;

  // ODMR: a batch of a turn job for the turn `turn_id` on core `turn_core`
  // (see server/odmr_turn.h), and the job's end.
  virtual void SendTurnBatch(int turn_core, uint64_t turn_id, uint64_t job_id,
                             std::vector<smtp::OutboundMessage> batch) = 0;
  virtual void SendTurnJobDone(int turn_core, uint64_t turn_id) = 0;
};

// The real Deliver(): a DeliveryConnection connected through `reactor`.
void ConnectDelivery(reactor::Reactor& reactor, DeliveryAttempt attempt);

}  // namespace etrnd::qmgr

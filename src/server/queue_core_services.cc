#include "etrnd/server/queue_core_services.h"

#include <utility>

#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/core.h"
#include "etrnd/server/odmr_turn.h"

namespace etrnd::server {
namespace {

qmgr::QueueOptions QueueOptionsOf(const ServerOptions& options) {
  return qmgr::QueueOptions{
      .spool_dir = options.spool_dir,
      .hostname = options.hostname,
      .postmaster = options.postmaster,
      .max_queue_lifetime = options.max_queue_lifetime,
      .retry_initial = options.retry_initial,
      .retry_max = options.retry_max,
      .delivery_timeout = options.delivery_timeout,
      .connections_per_destination = options.connections_per_destination,
      .messages_per_connection = options.messages_per_connection,
  };
}

}  // namespace

QueueCoreServices::QueueCoreServices(Core& core)
    : core_(core), options_(QueueOptionsOf(core.context().options)) {}

int QueueCoreServices::index() const { return core_.index(); }

size_t QueueCoreServices::core_count() const { return core_.context().core_count(); }

reactor::Reactor& QueueCoreServices::reactor() { return core_.reactor(); }

const config::DomainsTable& QueueCoreServices::table() const { return core_.table(); }

metrics::CoreMetrics& QueueCoreServices::metrics() { return core_.metrics(); }

void QueueCoreServices::SendToQueue(int target, std::function<void(qmgr::QueueService&)> fn) {
  Core& other = core_.context().core(target);
  core_.SendTo(other, [&other, fn = std::move(fn)] { fn(other.queue()); });
}

std::string QueueCoreServices::NewQueueId() { return core_.NewQueueId(); }

void QueueCoreServices::StoreMessage(spool::SpoolMessage message,
                                     std::function<void(absl::StatusOr<std::string>)> done) {
  core_.StoreMessage(std::move(message), Core::MessageOrigin{}, std::move(done));
}

void QueueCoreServices::AppendCompletion(const spool::SpoolCompletion& completion,
                                         std::function<void(absl::Status)> done) {
  core_.AppendCompletion(completion, std::move(done));
}

void QueueCoreServices::SyncSpoolDirectoryThen(std::function<void(bool synced)> then) {
  core_.SyncSpoolDirectoryThen(std::move(then));
}

void QueueCoreServices::AdoptRecoveredCompletionLog(const spool::RecoveryResult& recovered) {
  core_.AdoptRecoveredCompletionLog(recovered);
}

void QueueCoreServices::TellSegmentsRemoved(int target, std::vector<spool::SegmentKey> segments) {
  if (target == core_.index()) {
    core_.SegmentsRemoved(segments);
    return;
  }
  Core& other = core_.context().core(target);
  core_.SendTo(other,
               [&other, segments = std::move(segments)] { other.SegmentsRemoved(segments); });
}

void QueueCoreServices::ResolveNextHop(
    const std::string& domain, const config::NextHop& next_hop,
    std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done) {
  core_.ResolveNextHop(domain, next_hop, std::move(done));
}

std::shared_ptr<const transport::TlsContext> QueueCoreServices::ClientTls(bool verify) const {
  return verify ? core_.tls().client_verify : core_.tls().client;
}

void QueueCoreServices::Deliver(qmgr::DeliveryAttempt attempt) {
  qmgr::ConnectDelivery(core_.reactor(), std::move(attempt));
}

void QueueCoreServices::SendTurnBatch(int turn_core, uint64_t turn_id, uint64_t job_id,
                                      std::vector<smtp::OutboundMessage> batch) {
  Core& turn = core_.context().core(turn_core);
  core_.SendTo(
      turn, [&turn, turn_id, origin = core_.index(), job_id, batch = std::move(batch)]() mutable {
        DeliverTurnBatch(turn, turn_id, origin, job_id, std::move(batch));
      });
}

void QueueCoreServices::SendTurnJobDone(int turn_core, uint64_t turn_id) {
  Core& turn = core_.context().core(turn_core);
  core_.SendTo(turn, [&turn, turn_id] { DeliverTurnJobDone(turn, turn_id); });
}

}  // namespace etrnd::server

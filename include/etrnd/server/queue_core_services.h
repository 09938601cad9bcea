// The core a queue manager runs on, as src/qmgr sees it
// (qmgr::CoreServices): a thin adapter over server::Core.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "etrnd/qmgr/core_services.h"

namespace etrnd::server {

class Core;

class QueueCoreServices : public qmgr::CoreServices {
 public:
  explicit QueueCoreServices(Core& core);

  int index() const override;
  size_t core_count() const override;
  reactor::Reactor& reactor() override;
  const qmgr::QueueOptions& options() const override { return options_; }
  const config::DomainsTable& table() const override;
  metrics::CoreMetrics& metrics() override;
  void SendToQueue(int target, std::function<void(qmgr::QueueService&)> fn) override;
  std::string NewQueueId() override;
  void StoreMessage(spool::SpoolMessage message,
                    std::function<void(absl::StatusOr<std::string>)> done) override;
  void AppendCompletion(const spool::SpoolCompletion& completion,
                        std::function<void(absl::Status)> done) override;
  void SyncSpoolDirectoryThen(std::function<void(bool synced)> then) override;
  void TellSegmentsRemoved(int target, std::vector<spool::SegmentKey> segments) override;
  void AdoptRecoveredCompletionLog(const spool::RecoveryResult& recovered) override;
  void ResolveNextHop(
      const std::string& domain, const config::NextHop& next_hop,
      std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done) override;
  std::shared_ptr<const transport::TlsContext> ClientTls(bool verify) const override;
  void Deliver(qmgr::DeliveryAttempt attempt) override;
  void SendTurnBatch(int turn_core, uint64_t turn_id, uint64_t job_id,
                     std::vector<smtp::OutboundMessage> batch) override;
  void SendTurnJobDone(int turn_core, uint64_t turn_id) override;

 private:
  Core& core_;
  const qmgr::QueueOptions options_;
};

}  // namespace etrnd::server

// One reactor thread and everything it owns: its io_uring, listening
// sockets, SMTP sessions, spool segment (group commit), completion log, its
// shard of the domain queue index, its delivery worker and its shard of the
// ETRN rate limiter. Other cores reach it only through
// reactor().PostTo() (SendTo below); other threads through reactor().Post().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "etrnd/auth/auth_failure_limiter.h"
#include "etrnd/auth/password_file.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/delivery/dns_resolver.h"
#include "etrnd/delivery/next_hop_resolver.h"
#include "etrnd/etrn/etrn_rate_limiter.h"
#include "etrnd/metrics/core_metrics.h"
#include "etrnd/peers/peer_fanout.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/server/server_context.h"
#include "etrnd/server/tls_contexts.h"
#include "etrnd/smtp/server_session.h"
#include "etrnd/spool/completion_appender.h"
#include "etrnd/spool/group_commit.h"
#include "etrnd/spool/segment_appender.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::qmgr {
class QueueService;
}  // namespace etrnd::qmgr

namespace etrnd::server {

class ControlService;
class OdmrTurns;
class QueueCoreServices;
class SegmentCompactor;
class SmtpConnection;

class Core {
 public:
  Core(int index, ServerContext& context, std::shared_ptr<const config::DomainsTable> table);
  ~Core();

  // On the core's own thread, before Run(): ring, spool files.
  absl::Status Init(uint64_t first_segment_id, uint64_t first_completion_log_id);
  // Binds the --listen and --proxy_protocol_listen addresses (SO_REUSEPORT:
  // one socket per core).
  absl::Status StartListening();
  void Run();

  int index() const { return index_; }
  reactor::Reactor& reactor() { return *reactor_; }
  ServerContext& context() { return context_; }
  const smtp::SessionConfig& session_config() const { return session_config_; }

  // The domains table snapshot this core uses; replaced whole on SIGHUP.
  const config::DomainsTable& table() const { return *table_; }
  void SetTable(std::shared_ptr<const config::DomainsTable> table);
  // The --auth_file snapshot (null = no AUTH); replaced whole on SIGHUP.
  const std::shared_ptr<const auth::PasswordFile>& passwords() const { return passwords_; }
  void SetPasswords(std::shared_ptr<const auth::PasswordFile> passwords) {
    passwords_ = std::move(passwords);
  }
  // Failed AUTHs per address (SPEC 5). Every core is told of every failure
  // (smtp_connection.cc), so this core's table alone decides its 454.
  auth::AuthFailureLimiter& auth_limiter() { return auth_limiter_; }
  // The TLS contexts snapshot (server and client); replaced whole on SIGHUP.
  const TlsContexts& tls() const { return *tls_; }
  void SetTls(std::shared_ptr<const TlsContexts> tls) { tls_ = std::move(tls); }

  std::string NewQueueId();
  // Where a message came from, for its "queued" log line; empty for the
  // messages etrnd makes itself (bounces).
  struct MessageOrigin {
    std::string client;     // address:port
    std::string helo_name;  // as the client sent it
  };
  // Appends the message to this core's segment; done runs once it is durable
  // (or failed: ResourceExhausted for a full disk).
  void StoreMessage(spool::SpoolMessage message, MessageOrigin origin,
                    std::function<void(absl::StatusOr<std::string>)> done);

  // Compaction's copy of a message (segment_compactor.h): appended to this
  // core's segment like StoreMessage, `done` with its location once durable;
  // nothing is indexed or logged here.
  void StoreRelocated(spool::SpoolMessage message,
                      std::function<void(absl::StatusOr<spool::RecordLocation>)> done);
  // Segments of any core that are unlinked durably (directory fsynced): the
  // completion logs of this core that pointed only into gone segments go.
  void SegmentsRemoved(const std::vector<spool::SegmentKey>& segments);
  // Core 0, before Run(): recovery's compacted completion log is removed
  // like this core's own once the segments it points into are gone.
  void AdoptRecoveredCompletionLog(const spool::RecoveryResult& recovered);
  // fsync of the spool directory through the ring (unlinks made durable).
  void SyncSpoolDirectoryThen(std::function<void(bool synced)> then);
  SegmentCompactor& compactor() { return *compactor_; }

  // Records that recipients are finished (completion log, group commit).
  void AppendCompletion(const spool::SpoolCompletion& completion,
                        std::function<void(absl::Status)> done);
  // This core's shard of the domain queue index and its delivery worker.
  qmgr::QueueService& queue() { return *queue_; }
  // The ODMR turns whose ATRN connection is on this core.
  OdmrTurns& odmr_turns() { return *odmr_turns_; }
  // The ETRN buckets of the clients this core owns (etrn::EtrnRateLimiter::
  // ShardOf); this core's thread only.
  etrn::EtrnRateLimiter& etrn_limiter() { return etrn_limiter_; }
  // This core's links to the --peers nodes (empty without --peers).
  peers::PeerFanout& peers() { return *peers_; }

  // On this core's thread: runs fn on target's thread (lock-free cross-core
  // message; inline order kept per target, see Reactor::PostTo).
  void SendTo(Core& target, std::function<void()> fn) {
    reactor_->PostTo(target.reactor(), std::move(fn));
  }

  // Where to connect for a domain's next hop, most preferred first: IP
  // literals at once, host names and MX through the asynchronous resolver.
  // Each address comes with the host name it was found under (for TLS).
  void ResolveNextHop(const std::string& domain, const config::NextHop& next_hop,
                      std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done);

  // Session registry: idle sweeps, shutdown, and late async results.
  uint64_t AddSession(SmtpConnection* session);
  void RemoveSession(uint64_t session_id);
  SmtpConnection* FindSession(uint64_t session_id);

  // SIGTERM: stop accepting, 421 to every session, finish pending writes.
  void BeginShutdown();

  // This core's counters and histograms (only this core's thread writes
  // them; a scrape copies them here) and its open inbound sessions.
  metrics::CoreMetrics& metrics() { return metrics_; }
  size_t session_count() const { return sessions_.size(); }

 private:
  void ObserveTurn(const reactor::TurnProfile& turn);
  void LogTurnHistogram() const;

  void SweepIdleSessions();
  void OnLoopEnd();
  // Creates the appender's next file through the ring if it asks for one
  // (core_spool_spare.cc): the roll onto it is then no syscall.
  void PrepareSpoolSpare(spool::RecordLogAppender& appender);

  const int index_;
  ServerContext& context_;
  smtp::SessionConfig session_config_;
  std::shared_ptr<const config::DomainsTable> table_;
  std::shared_ptr<const TlsContexts> tls_ = std::make_shared<TlsContexts>();
  // Before reactor_: destroyed after it, so the links outlive the
  // connections the reactor still owns.
  std::unique_ptr<peers::PeerFanout> peers_;
  std::unique_ptr<reactor::Reactor> reactor_;
  std::unique_ptr<spool::SegmentAppender> segments_;
  std::unique_ptr<spool::CompletionAppender> completions_;
  std::unique_ptr<spool::GroupCommitter> segment_commits_;
  std::unique_ptr<spool::GroupCommitter> completion_commits_;
  std::unique_ptr<delivery::DnsResolver> resolver_;
  std::unique_ptr<QueueCoreServices> queue_services_;  // what queue_ sees of this core
  std::unique_ptr<qmgr::QueueService> queue_;
  std::unique_ptr<SegmentCompactor> compactor_;
  std::unique_ptr<OdmrTurns> odmr_turns_;
  std::unique_ptr<ControlService> control_;  // core 0 only: the etrnctl socket
  etrn::EtrnRateLimiter etrn_limiter_;
  std::shared_ptr<const auth::PasswordFile> passwords_;
  auth::AuthFailureLimiter auth_limiter_;
  absl::flat_hash_map<uint64_t, SmtpConnection*> sessions_;
  uint64_t next_session_id_ = 1;
  uint32_t queue_id_counter_ = 0;
  bool shutting_down_ = false;
  metrics::CoreMetrics metrics_;
  absl::Duration longest_turn_ = absl::ZeroDuration();
};

}  // namespace etrnd::server

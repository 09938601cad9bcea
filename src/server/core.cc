#include "etrnd/server/core.h"

#include <mimalloc.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "etrnd/common/log.h"
#include "etrnd/common/log_writer.h"
#include "etrnd/delivery/next_hop_resolver.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/server/control_service.h"
#include "etrnd/server/metrics_service.h"
#include "etrnd/server/odmr_connection.h"
#include "etrnd/server/odmr_turn.h"
#include "etrnd/server/queue_core_services.h"
#include "etrnd/server/segment_compactor.h"
#include "etrnd/server/smtp_connection.h"

namespace etrnd::server {
namespace {

// Idle sessions are found by one sweep a second, not a timer per session.
constexpr absl::Duration kIdleSweepInterval = absl::Seconds(1);
// Completion-log batches start at most this often (a finished recipient's
// record is durable up to this much later; the next flush of its domain
// waits for it, so nothing is sent twice meanwhile).
constexpr absl::Duration kCompletionBatchInterval = absl::Milliseconds(20);
// The kernel's send buffer per SMTP session: without a fixed size a peer
// that does not read gets megabytes of kernel memory (TCP autotuning) before
// back-pressure reaches us. The receive side keeps autotuning (a fixed 16 KiB
// cost 19% of the 64 KiB-message ingest rate); what a paused session can
// still hand over is bounded by its one-shot receives instead.
constexpr int kSessionSendBufferBytes = 64 * 1024;

}  // namespace

Core::Core(int index, ServerContext& context, std::shared_ptr<const config::DomainsTable> table)
    : index_(index),
      context_(context),
      table_(std::move(table)),
      etrn_limiter_(
          etrn::EtrnRateLimits{.burst = static_cast<double>(context.options.etrn_burst),
                               .refill_per_second = context.options.etrn_rate_per_second}) {
  session_config_.hostname = context.options.hostname;
  session_config_.postmaster = context.options.postmaster;
  session_config_.limits = context.options.session_limits;
  session_config_.starttls = !context.options.tls.cert_file.empty();
}

Core::~Core() = default;

absl::Status Core::Init(uint64_t first_segment_id, uint64_t first_completion_log_id) {
  SetLogThreadIndex(index_);
  reactor::ReactorOptions reactor_options;
  reactor_options.accepted_send_buffer_bytes = kSessionSendBufferBytes;
  // A session is read one buffer at a time until it has shown itself a mail
  // client (SmtpConnection enables multishot after its first message).
  reactor_options.accepted_multishot_recv = false;
  reactor_options.background_busy_share_percent = context_.options.delivery_cpu_share_while_busy;
  auto reactor = reactor::Reactor::Create(index_, reactor_options);
  if (!reactor.ok()) return reactor.status();
  reactor_ = std::move(*reactor);
  if (context_.mesh != nullptr) reactor_->JoinMesh(*context_.mesh);

  spool::AppenderOptions segment_options;
  segment_options.spool_dir = context_.options.spool_dir;
  segment_options.core = static_cast<uint32_t>(index_);
  segment_options.first_file_id = first_segment_id;
  segment_options.file_bytes_max = context_.options.segment_bytes_max;
  segment_options.roll_blocking = false;  // spares come through the ring
  auto segments = spool::SegmentAppender::Open(segment_options);
  if (!segments.ok()) return segments.status();
  segments_ = std::move(*segments);

  spool::AppenderOptions completion_options = segment_options;
  completion_options.first_file_id = first_completion_log_id;
  auto completions = spool::CompletionAppender::Open(completion_options);
  if (!completions.ok()) return completions.status();
  completions_ = std::move(*completions);

  segment_commits_ =
      std::make_unique<spool::GroupCommitter>(*reactor_, *segments_, context_.options.fsync);
  completion_commits_ =
      std::make_unique<spool::GroupCommitter>(*reactor_, *completions_, context_.options.fsync);
  // A big flush finishes thousands of recipients a second; synced each turn,
  // its completion log took the disk from clients waiting for DATA's 250.
  completion_commits_->set_batch_interval(kCompletionBatchInterval);
  auto resolver = delivery::DnsResolver::Create(*reactor_, context_.options.dns_server);
  if (!resolver.ok()) {
    // Next hops given as IP addresses still work; MX routes defer.
    ETRND_LOG_ERROR("DNS resolver unavailable: %s", std::string(resolver.status().message()));
  } else {
    resolver_ = std::move(*resolver);
  }
  queue_services_ = std::make_unique<QueueCoreServices>(*this);
  queue_ = std::make_unique<qmgr::QueueService>(*queue_services_);
  compactor_ = std::make_unique<SegmentCompactor>(*this);
  compactor_->Start();
  peers_ = std::make_unique<peers::PeerFanout>(*reactor_, context_.options.peers,
                                               context_.options.hostname,
                                               [this] { return tls_->client; });
  odmr_turns_ = std::make_unique<OdmrTurns>();
  for (const std::string& domain : context_.holds) queue_->SetHeld(domain, true);
  reactor_->AddLoopEndHook([this] { OnLoopEnd(); });
  // The histogram needs only each turn's length; the phases, CPU time and
  // context switches cost syscalls every turn, read only for --log_turns_over.
  reactor_->SetTurnObserver([this](const reactor::TurnProfile& turn) { ObserveTurn(turn); },
                            context_.options.log_turns_over > absl::ZeroDuration()
                                ? reactor::TurnDetail::kFull
                                : reactor::TurnDetail::kTotal);
  reactor_->RunAfter(kIdleSweepInterval, [this] { SweepIdleSessions(); });
  return absl::OkStatus();
}

absl::Status Core::StartListening() {
  for (const SocketAddress& address : context_.options.listen) {
    absl::Status status = reactor_->Listen(
        address, [this](reactor::Reactor&, const SocketAddress& peer, const SocketAddress&) {
          return std::make_unique<SmtpConnection>(*this, peer, ProxyHeaderMode::kNone);
        });
    if (!status.ok()) return status;
  }
  for (const SocketAddress& address : context_.options.proxy_protocol_listen) {
    absl::Status status = reactor_->Listen(
        address, [this](reactor::Reactor&, const SocketAddress& peer, const SocketAddress&) {
          return std::make_unique<SmtpConnection>(*this, peer, ProxyHeaderMode::kExpected);
        });
    if (!status.ok()) return status;
  }
  peers_->Start();
  if (context_.options.odmr_listen.has_value()) {
    absl::Status status = reactor_->Listen(
        *context_.options.odmr_listen,
        [this](reactor::Reactor&, const SocketAddress& peer, const SocketAddress&) {
          return std::make_unique<OdmrConnection>(*this, peer);
        });
    if (!status.ok()) return status;
  }
  if (index_ == 0) {
    // A Unix socket cannot be shared with SO_REUSEPORT: one core serves it.
    control_ = std::make_unique<ControlService>(*this, context_.holds);
    if (absl::Status status = control_->Listen(); !status.ok()) return status;
  }
  if (context_.options.metrics_listen.has_value()) return StartMetricsEndpoint(*this);
  return absl::OkStatus();
}

void Core::Run() {
  reactor_->Run();
  // The reactor has returned with no write in flight: blocking is fine now.
  segments_->TrimZeroFill();
  completions_->TrimZeroFill();
  segments_->DropSpare();
  completions_->DropSpare();
  LogTurnHistogram();
}

// Every turn feeds the loop-turn histogram (metrics, and the exit summary);
// the invariant to watch is no turn over a millisecond at any queue size.
void Core::ObserveTurn(const reactor::TurnProfile& turn) {
  metrics_.loop_turn_seconds.Observe(turn.total);
  longest_turn_ = std::max(longest_turn_, turn.total);
  const absl::Duration threshold = context_.options.log_turns_over;
  if (threshold > absl::ZeroDuration() && turn.total > threshold) {
    ETRND_LOG_WARNING_REPEATED("slow loop turn", absl::StrCat("core ", index_),
                               "core %d: loop turn of %s (over --log_turns_over=%s): %s", index_,
                               absl::FormatDuration(turn.total), absl::FormatDuration(threshold),
                               turn.Describe());
    WakeLogWriter();  // logged after the loop-end hook: do not wait a turn
  }
}

void Core::LogTurnHistogram() const {
  const metrics::HistogramSnapshot& turns = metrics_.loop_turn_seconds.snapshot();
  std::string buckets;
  for (size_t i = 0; i < turns.counts.size(); ++i) {
    if (turns.counts[i] == 0) continue;
    absl::StrAppend(
        &buckets, buckets.empty() ? "" : ", ",
        i < turns.upper_bounds.size()
            ? absl::StrCat("<=", absl::FormatDuration(absl::Seconds(turns.upper_bounds[i])))
            : std::string("more"),
        ": ", turns.counts[i]);
  }
  ETRND_LOG_INFO("core %d: %d loop turns, longest %s; %s", index_, turns.count,
                 absl::FormatDuration(longest_turn_), buckets);
}

void Core::SetTable(std::shared_ptr<const config::DomainsTable> table) {
  table_ = std::move(table);
  queue_->OnTableChanged();
}

std::string Core::NewQueueId() {
  // Time-ordered like Postfix's long queue ids: microseconds, core, counter.
  // "%011X%02X%03X", written by hand: StrFormat showed in the ingest profile.
  uint64_t micros = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  std::string id(16, '0');
  auto put_hex = [&id](size_t end, uint64_t value, size_t digits) {
    for (size_t i = 0; i < digits; ++i, value >>= 4)
      id[end - 1 - i] = "0123456789ABCDEF"[value & 0xF];
  };
  put_hex(11, micros & 0xFFFFFFFFFFFull, 11);
  put_hex(13, static_cast<uint64_t>(index_) & 0xFF, 2);
  put_hex(16, (queue_id_counter_++) & 0xFFF, 3);
  return id;
}

void Core::StoreMessage(spool::SpoolMessage message, MessageOrigin origin,
                        std::function<void(absl::StatusOr<std::string>)> done) {
  absl::StatusOr<spool::RecordLocation> location = segments_->Append(message);
  if (!location.ok()) {
    ETRND_LOG_WARNING("spool append of %s failed: %s", message.queue_id,
                      std::string(location.status().message()));
    done(location.status());
    return;
  }
  const size_t size = message.data.size();
  auto envelope = std::make_shared<spool::SpoolMessage>(std::move(message));
  envelope->data.clear();  // the body is on disk; keep only the envelope
  spool::RecordLocation where = *location;
  segment_commits_->AwaitDurable(where, [this, envelope, where, size, origin = std::move(origin),
                                         done = std::move(done)](absl::Status status) {
    if (!status.ok()) {
      done(status);
      return;
    }
    const std::string& id = envelope->queue_id;
    if (origin.client.empty()) {
      ETRND_LOG_INFO_EVENT("queued",
                           {{"id", id},
                            {"from", envelope->mail_from},
                            {"nrcpt", envelope->recipients.size()},
                            {"size", size}},
                           "%s: from=<%s>, size=%d, nrcpt=%d, queued", id, envelope->mail_from,
                           size, envelope->recipients.size());
    } else {
      // Postfix puts the client on a line of its own; one line per event
      // keeps it here. helo is the client's word, escaped by the logger.
      ETRND_LOG_INFO_EVENT("queued",
                           {{"id", id},
                            {"from", envelope->mail_from},
                            {"nrcpt", envelope->recipients.size()},
                            {"size", size},
                            {"client", origin.client},
                            {"helo", origin.helo_name}},
                           "%s: from=<%s>, size=%d, nrcpt=%d, queued, client=%s, helo=<%s>", id,
                           envelope->mail_from, size, envelope->recipients.size(), origin.client,
                           origin.helo_name);
    }
    queue_->OnMessageDurable(where, *envelope);
    done(envelope->queue_id);
  });
}

void Core::AppendCompletion(const spool::SpoolCompletion& completion,
                            std::function<void(absl::Status)> done) {
  absl::StatusOr<spool::RecordLocation> location = completions_->Append(completion);
  if (!location.ok()) {
    done(location.status());
    return;
  }
  completion_commits_->AwaitDurable(*location, std::move(done));
}

uint64_t Core::AddSession(SmtpConnection* session) {
  uint64_t id = next_session_id_++;
  sessions_[id] = session;
  return id;
}

void Core::RemoveSession(uint64_t session_id) { sessions_.erase(session_id); }

SmtpConnection* Core::FindSession(uint64_t session_id) {
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? nullptr : it->second;
}

void Core::SweepIdleSessions() {
  absl::Time now = absl::Now();
  std::vector<SmtpConnection*> sessions;
  sessions.reserve(sessions_.size());
  for (auto& [id, session] : sessions_) sessions.push_back(session);
  for (SmtpConnection* session : sessions) {
    session->CheckDeadlines(now, context_.options.idle_timeout);
  }
  // No mi_collect() here: on a heap that just freed a big flush it took
  // 2-7 ms in one turn. mimalloc gives freed pages back by itself, a
  // decommit delay after they are freed, in small steps.
  // A flood that stopped still gets its "N more" line within a second.
  FlushRepeatedLogEvents();
  if (!shutting_down_) reactor_->RunAfter(kIdleSweepInterval, [this] { SweepIdleSessions(); });
}

void Core::BeginShutdown() {
  shutting_down_ = true;
  // The last completions go now: the loop does not wait for timers.
  completion_commits_->set_batch_interval(absl::ZeroDuration());
  reactor_->StopAccepting();
  compactor_->Stop();
  queue_->Stop();
  peers_->Stop();
  std::vector<SmtpConnection*> sessions;
  for (auto& [id, session] : sessions_) sessions.push_back(session);
  for (SmtpConnection* session : sessions) session->Shutdown();
  odmr_turns_->Shutdown();
  // Connections refused at admission (no session) are closing already;
  // those still awaiting a PROXY header are closed by Shutdown() too.
  reactor_->Stop();
}

void Core::OnLoopEnd() {
  segment_commits_->Flush();
  completion_commits_->Flush();
  PrepareSpoolSpare(*segments_);
  PrepareSpoolSpare(*completions_);
  for (uint64_t segment_id : segments_->TakeSealedFiles()) queue_->SealSegment(segment_id);
  WakeLogWriter();  // this turn's log lines
}

void Core::ResolveNextHop(
    const std::string& domain, const config::NextHop& next_hop,
    std::function<void(absl::StatusOr<std::vector<delivery::RouteTarget>>)> done) {
  delivery::RouteSpec spec;
  spec.local_hostname = context_.options.hostname;
  if (next_hop.kind == config::NextHop::Kind::kMx) {
    spec.kind = delivery::RouteSpec::kMx;
    spec.port = context_.options.mx_port;
  } else {
    spec.kind = next_hop.host_is_ip() ? delivery::RouteSpec::kAddress : delivery::RouteSpec::kHost;
    spec.host = next_hop.host;
    spec.port = next_hop.port;
  }
  if (resolver_ == nullptr) {
    done(absl::UnavailableError("DNS resolver unavailable"));
    return;
  }
  delivery::ResolveRouteTargets(*resolver_, domain, spec, std::move(done));
}

}  // namespace etrnd::server

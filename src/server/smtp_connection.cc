#include "etrnd/server/smtp_connection.h"

#include "absl/time/clock.h"
#include "etrnd/common/log.h"
#include "etrnd/server/core.h"
#include "etrnd/server/etrn_service.h"

namespace etrnd::server {

SmtpConnection::SmtpConnection(Core& core, SocketAddress peer) : core_(core), peer_(peer) {}

SmtpConnection::~SmtpConnection() = default;

void SmtpConnection::OnOpen(reactor::Connection& conn) {
  conn_ = &conn;
  ++core_.metrics().connections_total;
  const std::string& hostname = core_.session_config().hostname;
  Admission admission = core_.context().limiter.TryAdmit(peer_.ip());
  if (admission != Admission::kAdmitted) {
    // Refused before any session exists: one 421 and close (RFC 5321 3.8).
    ETRND_LOG_INFO("refused connection from %s: %s", peer_.ToString(),
                   admission == Admission::kTooManyTotal ? "too many connections"
                                                         : "too many connections from address");
    conn.Send(std::string("421 4.7.0 ") + hostname +
              (admission == Admission::kTooManyTotal
                   ? " Error: too many connections\r\n"
                   : " Error: too many connections from your address\r\n"));
    conn.Close();
    return;
  }
  admitted_ = true;
  session_id_ = core_.AddSession(this);
  session_.emplace(core_.session_config(), *this, peer_);
  ETRND_LOG_DEBUG("connect from %s (session %d)", peer_.ToString(), session_id_);
  session_->Start();
  Flush();
}

void SmtpConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (!session_.has_value()) return;
  session_->OnBytes(bytes);
  Flush();
}

void SmtpConnection::OnSendDrained(reactor::Connection&) {
  if (!session_.has_value()) return;
  session_->OnOutputDrained();
  Flush();
}

size_t SmtpConnection::UnsentOutputBytes() {
  return conn_ == nullptr ? 0 : conn_->pending_output_bytes();
}

void SmtpConnection::OnClosed(reactor::Connection&, int error) {
  if (error != 0) ETRND_LOG_DEBUG("connection from %s closed: error %d", peer_.ToString(), error);
  if (admitted_) {
    core_.context().limiter.Release(peer_.ip());
    core_.RemoveSession(session_id_);
  }
  conn_ = nullptr;
}

void SmtpConnection::OnRefused(int reply_code) { core_.metrics().messages_refused.Add(reply_code); }

void SmtpConnection::OnEtrnAnswered(int reply_code) {
  core_.metrics().etrn_replies.Add(reply_code);
}

smtp::RecipientVerdict SmtpConnection::CheckRecipient(std::string_view domain) {
  return core_.table().Match(domain) != nullptr ? smtp::RecipientVerdict::kAccept
                                                : smtp::RecipientVerdict::kRelayDenied;
}

std::string SmtpConnection::NewQueueId() { return core_.NewQueueId(); }

void SmtpConnection::StoreMessage(smtp::AcceptedMessage message) {
  spool::SpoolMessage spooled;
  spooled.queue_id = std::move(message.queue_id);
  spooled.arrival_unix_micros = absl::ToUnixMicros(absl::Now());
  spooled.mail_from = std::move(message.mail_from);
  spooled.recipients = std::move(message.recipients);
  spooled.data = std::move(message.data);
  Core* core = &core_;
  uint64_t session_id = session_id_;
  const absl::Time final_dot = absl::Now();
  const size_t bytes = spooled.data.size();
  core_.StoreMessage(std::move(spooled),
                     [core, session_id, final_dot, bytes](absl::StatusOr<std::string> result) {
                       if (result.ok()) {
                         metrics::CoreMetrics& metrics = core->metrics();
                         ++metrics.messages_accepted_total;
                         metrics.received_bytes_total += bytes;
                         metrics.data_commit_seconds.Observe(absl::Now() - final_dot);
                       }
                       // The client may have gone away meanwhile; the message is queued anyway.
                       if (SmtpConnection* session = core->FindSession(session_id)) {
                         session->DeliverStoreResult(std::move(result));
                       }
                     });
}

void SmtpConnection::StartEtrn(std::string_view argument) {
  Core* core = &core_;
  uint64_t session_id = session_id_;
  const absl::Time started = absl::Now();
  StartEtrnRequest(core_, std::string(argument), peer_.ip(),
                   [core, session_id, started](std::string reply) {
                     core->metrics().etrn_reply_seconds.Observe(absl::Now() - started);
                     if (SmtpConnection* session = core->FindSession(session_id)) {
                       session->DeliverEtrnResult(std::move(reply));
                     }
                   });
}

void SmtpConnection::DeliverStoreResult(absl::StatusOr<std::string> queue_id) {
  if (!session_.has_value()) return;
  // A client that delivers mail and has never needed back-pressure is read
  // with multishot recv from now on (see Connection::SetMultishotReceive).
  if (queue_id.ok() && !ever_paused_ && conn_ != nullptr) conn_->SetMultishotReceive(true);
  session_->OnStoreResult(std::move(queue_id));
  Flush();
}

void SmtpConnection::DeliverEtrnResult(std::string reply_line) {
  if (!session_.has_value()) return;
  session_->OnEtrnResult(std::move(reply_line));
  Flush();
}

void SmtpConnection::CheckDeadlines(absl::Time now, absl::Duration idle_timeout) {
  if (!session_.has_value() || conn_ == nullptr || session_->close_requested()) return;
  if (now - output_blocked_since_ > idle_timeout) {
    // It reads nothing, so a 421 would only queue behind the rest.
    ETRND_LOG_INFO("smtp %s: %d reply bytes not taken within %s; aborting", peer_.ToString(),
                   UnsentOutputBytes(), absl::FormatDuration(idle_timeout));
    conn_->Abort();
    return;
  }
  if (session_->CheckDeadlines(now)) Flush();
}

void SmtpConnection::Shutdown() {
  if (!session_.has_value() || session_->close_requested()) return;
  session_->OnShutdown();
  Flush();
}

void SmtpConnection::Flush() {
  if (conn_ == nullptr) return;
  std::string output = session_->TakeOutput();
  if (!output.empty()) conn_->Send(std::move(output));
  if (session_->close_requested()) {
    conn_->Close();
    return;
  }
  UpdateReading();
}

void SmtpConnection::UpdateReading() {
  if (session_->output_blocked()) {
    if (output_blocked_since_ == absl::InfiniteFuture()) output_blocked_since_ = absl::Now();
  } else {
    output_blocked_since_ = absl::InfiniteFuture();
  }
  if (session_->wants_input()) {
    conn_->ResumeReceive();
  } else {
    ever_paused_ = true;
    conn_->SetMultishotReceive(false);
    conn_->PauseReceive();
  }
}

}  // namespace etrnd::server

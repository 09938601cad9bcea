#include "etrnd/server/smtp_connection.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/server/core.h"
#include "etrnd/server/etrn_service.h"
#include "etrnd/server/smtp_auth.h"

namespace etrnd::server {
namespace {

// A load balancer sends the header at once; a peer that does not is closed
// after this long (or --idle_timeout when shorter).
constexpr absl::Duration kProxyHeaderTimeoutMax = absl::Seconds(5);

bool TrustedProxy(const std::vector<CidrNetwork>& networks, const IpAddress& address) {
  for (const CidrNetwork& network : networks) {
    if (network.Contains(address)) return true;
  }
  return false;
}

}  // namespace

SmtpConnection::SmtpConnection(Core& core, SocketAddress peer, ProxyHeaderMode proxy_mode)
    : core_(core), peer_(peer), client_(peer), stream_([this](std::string bytes) {
        if (conn_ != nullptr) conn_->Send(std::move(bytes));
      }) {
  if (proxy_mode == ProxyHeaderMode::kExpected) proxy_parser_.emplace();
}

SmtpConnection::~SmtpConnection() = default;

void SmtpConnection::OnOpen(reactor::Connection& conn) {
  conn_ = &conn;
  ++core_.metrics().connections_total;
  if (!proxy_parser_.has_value()) {
    StartSession();
    return;
  }
  const ServerOptions& options = core_.context().options;
  if (!TrustedProxy(options.proxy_protocol_from, peer_.ip())) {
    RefuseProxied("peer not in --proxy_protocol_from");
    return;
  }
  // Registered now so that the deadline sweep and shutdown reach it; it is
  // admitted (counted per address) only once the header names the client.
  session_id_ = core_.AddSession(this);
  proxy_deadline_ = absl::Now() + std::min(kProxyHeaderTimeoutMax, options.idle_timeout);
}

void SmtpConnection::OnProxyBytes(std::string_view bytes) {
  size_t consumed = 0;
  proxy::ProxyHeader header;
  switch (proxy_parser_->Parse(bytes, &consumed, &header)) {
    case proxy::ProxyHeaderParser::Result::kNeedMore:
      return;
    case proxy::ProxyHeaderParser::Result::kError:
      RefuseProxied("bad PROXY header: " + std::string(proxy_parser_->error()));
      return;
    case proxy::ProxyHeaderParser::Result::kDone:
      break;
  }
  ETRND_CHECK(consumed <= bytes.size());
  proxy_parser_.reset();
  proxy_deadline_ = absl::InfiniteFuture();
  // LOCAL / UNKNOWN: the proxy speaks for itself, the socket's peer stands.
  if (header.has_addresses) client_ = header.source;
  ETRND_LOG_DEBUG("PROXY v%d from %s: client %s", header.version, peer_.ToString(),
                  client_.ToString());
  StartSession();
  // Bytes behind the header in the same read are the client's first SMTP
  // bytes (early, but not to be lost).
  std::string_view rest = bytes.substr(consumed);
  if (!session_.has_value() || rest.empty() || conn_ == nullptr || conn_->closing()) return;
  session_->OnBytes(rest);
  Flush();
}

void SmtpConnection::RefuseProxied(std::string_view reason) {
  ETRND_LOG_INFO_REPEATED("PROXY refused", peer_.ip().ToString(),
                          "PROXY listener: closed connection from %s without greeting: %s",
                          peer_.ToString(), reason);
  proxy_parser_.reset();
  proxy_deadline_ = absl::InfiniteFuture();
  if (conn_ != nullptr) conn_->Close();
}

void SmtpConnection::StartSession() {
  ETRND_CHECK(conn_ != nullptr && !proxy_parser_.has_value() && !session_.has_value());
  reactor::Connection& conn = *conn_;
  const std::string& hostname = core_.session_config().hostname;
  Admission admission = core_.context().limiter.TryAdmit(client_.ip());
  if (admission != Admission::kAdmitted) {
    // Refused before any session exists: one 421 and close (RFC 5321 3.8).
    // Summarised per address: a connect loop must not flood the log.
    ETRND_LOG_INFO_REPEATED("refused connection", client_.ip().ToString(),
                            "refused connection from %s: %s", client_.ToString(),
                            admission == Admission::kTooManyTotal
                                ? "too many connections"
                                : "too many connections from address");
    conn.Send(std::string("421 4.7.0 ") + hostname +
              (admission == Admission::kTooManyTotal
                   ? " Error: too many connections\r\n"
                   : " Error: too many connections from your address\r\n"));
    conn.Close();
    return;
  }
  admitted_ = true;
  if (session_id_ == 0) session_id_ = core_.AddSession(this);
  session_.emplace(core_.session_config(), *this, client_);
  ETRND_LOG_DEBUG("connect from %s (session %d)", client_.ToString(), session_id_);
  session_->Start();
  Flush();
}

void SmtpConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (proxy_parser_.has_value()) {
    OnProxyBytes(bytes);
    return;
  }
  if (!session_.has_value()) return;
  stream_.Receive(bytes, *this);
  if (!closed_by_tls_) Flush();
}

void SmtpConnection::OnSendDrained(reactor::Connection&) {
  if (!session_.has_value()) return;
  session_->OnOutputDrained();
  Flush();
}

size_t SmtpConnection::UnsentOutputBytes() {
  const size_t tls_bytes = stream_.tls() ? stream_.stream()->buffered_output_bytes() : 0;
  return tls_bytes + (conn_ == nullptr ? 0 : conn_->pending_output_bytes());
}

void SmtpConnection::OnClosed(reactor::Connection&, int error) {
  if (error != 0) ETRND_LOG_DEBUG("connection from %s closed: error %d", client_.ToString(), error);
  if (admitted_) core_.context().limiter.Release(client_.ip());
  if (session_id_ != 0) core_.RemoveSession(session_id_);
  proxy_parser_.reset();
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
  Core::MessageOrigin origin{.client = client_.ToString(),
                             .helo_name = std::move(message.helo_name)};
  core_.StoreMessage(std::move(spooled), std::move(origin),
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
  StartEtrnRequest(core_, std::string(argument), client_.ip(), session_->authenticated_user(),
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

smtp::AuthOffer SmtpConnection::AuthOffered() {
  return OfferAuth(core_, client_.ip(), stream_.established());
}

bool SmtpConnection::AuthLockedOut() { return server::AuthLockedOut(core_, client_.ip()); }

void SmtpConnection::VerifyCredentials(auth::SaslCredentials credentials) {
  Core* core = &core_;
  const uint64_t session_id = session_id_;
  StartAuthVerification(core_, client_.ip(), std::move(credentials),
                        [core, session_id](smtp::AuthVerdict verdict) {
                          if (SmtpConnection* session = core->FindSession(session_id)) {
                            session->DeliverAuthResult(verdict);
                          }
                        });
}

void SmtpConnection::DeliverAuthResult(smtp::AuthVerdict verdict) {
  if (!session_.has_value()) return;
  session_->OnAuthResult(verdict);
  Flush();
}

void SmtpConnection::DeliverEtrnResult(std::string reply_line) {
  if (!session_.has_value()) return;
  session_->OnEtrnResult(std::move(reply_line));
  Flush();
}

void SmtpConnection::CheckDeadlines(absl::Time now, absl::Duration idle_timeout) {
  if (proxy_parser_.has_value()) {
    if (now >= proxy_deadline_) {
      RefuseProxied(
          absl::StrFormat("no complete PROXY header within %s (%d bytes received)",
                          absl::FormatDuration(std::min(kProxyHeaderTimeoutMax, idle_timeout)),
                          proxy_parser_->buffered_bytes()));
    }
    return;
  }
  if (!session_.has_value() || conn_ == nullptr || session_->close_requested()) return;
  if (now - output_blocked_since_ > idle_timeout) {
    // It reads nothing, so a 421 would only queue behind the rest.
    ETRND_LOG_INFO_REPEATED("output not drained", client_.ip().ToString(),
                            "smtp %s: %d reply bytes not taken within %s; aborting",
                            client_.ToString(), UnsentOutputBytes(),
                            absl::FormatDuration(idle_timeout));
    conn_->Abort();
    return;
  }
  if (session_->CheckDeadlines(now)) Flush();
}

void SmtpConnection::Shutdown() {
  if (proxy_parser_.has_value()) {
    // Never greeted, so no 421 either.
    proxy_parser_.reset();
    if (conn_ != nullptr) conn_->Close();
    return;
  }
  if (!session_.has_value() || session_->close_requested()) return;
  session_->OnShutdown();
  Flush();
}

void SmtpConnection::Flush() {
  if (conn_ == nullptr) return;
  std::string output = session_->TakeOutput();
  // Mid-handshake nothing can reach the client; only a 421 (timeout,
  // shutdown) is produced then, and the close says the same.
  if (!stream_.tls() || stream_.established()) stream_.SendOwned(std::move(output));
  if (session_->close_requested()) {
    stream_.Shutdown();
    conn_->Close();
    return;
  }
  if (!stream_.tls() && session_->wants_tls_start()) StartTls();
  UpdateReading();
}

void SmtpConnection::StartTls() {
  const transport::TlsContext* context = core_.tls().server.get();
  // The session offers STARTTLS only when a certificate was loaded at
  // start-up, and a failed reload keeps the previous one.
  ETRND_CHECK(context != nullptr);
  if (absl::Status status = stream_.StartServer(*context); !status.ok()) {
    ETRND_LOG_WARNING("smtp %s: cannot start TLS: %s", client_.ToString(),
                      std::string(status.message()));
    conn_->Close();
  }
}

void SmtpConnection::OnTlsStarted() {
  const transport::TlsStream& tls = *stream_.stream();
  ETRND_LOG_DEBUG("smtp %s: TLS started: %s with cipher %s", client_.ToString(),
                  std::string(tls.version()), std::string(tls.cipher()));
  session_->OnTlsStarted(tls.version(), tls.cipher());
}

void SmtpConnection::OnPlaintext(std::string_view bytes) { session_->OnBytes(bytes); }

void SmtpConnection::OnTlsFailed(std::string_view why) { CloseAfterTls("handshake", why); }

void SmtpConnection::OnTlsEnded(std::string_view error) {
  if (!error.empty()) return CloseAfterTls("session", error);
  // close_notify: the client is done; answer it and close (like EOF). A
  // session closing anyway sends its last reply first (Flush).
  if (session_->close_requested()) return;
  stream_.Shutdown();
  conn_->Close();
  closed_by_tls_ = true;
}

void SmtpConnection::CloseAfterTls(std::string_view what, std::string_view error) {
  ETRND_LOG_INFO_REPEATED("TLS failed", client_.ip().ToString(), "smtp %s: TLS %s failed: %s",
                          client_.ToString(), what, error);
  conn_->Close();  // after the alert, if OpenSSL made one (the pump sent it)
  closed_by_tls_ = true;
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

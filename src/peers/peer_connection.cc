#include "etrnd/peers/peer_connection.h"

#include <algorithm>
#include <cstring>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/peers/peer_link.h"

namespace etrnd::peers {

PeerConnection::PeerConnection(reactor::Reactor& reactor, PeerLink* link,
                               smtp::ClientSession::Options options,
                               std::shared_ptr<const transport::TlsContext> tls_client,
                               std::string peer_host)
    : reactor_(reactor),
      link_(link),
      session_(std::move(options)),
      tls_client_(std::move(tls_client)),
      peer_host_(std::move(peer_host)) {
  ETRND_CHECK(link_ != nullptr);
}

PeerConnection::~PeerConnection() {
  if (timeout_timer_ != 0) reactor_.CancelTimer(timeout_timer_);
  if (link_ != nullptr) link_->Forget(this);
}

void PeerConnection::OnOpen(reactor::Connection& conn) {
  conn_ = &conn;
  if (abort_on_open_) {
    conn.Abort();
    return;
  }
  Pump();
}

void PeerConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (tls_ != nullptr) {
    OnTlsBytes(bytes);
    return;
  }
  session_.OnBytes(bytes);
  Pump();
}

void PeerConnection::OnTlsBytes(std::string_view ciphertext) {
  const bool was_established = tls_->handshake_done();
  if (!tls_->Feed(ciphertext).ok()) {
    const std::string why(tls_->status().message());
    if (was_established) {
      session_.OnConnectionLost();
    } else {
      session_.OnTlsFailed(why);
    }
    SendCiphertext();  // the alert
    Pump();
    return;
  }
  if (!was_established && tls_->handshake_done()) session_.OnTlsStarted();
  for (std::string plaintext; !(plaintext = tls_->TakePlaintext()).empty();) {
    session_.OnBytes(plaintext);
  }
  if (tls_->peer_closed() && !session_.done()) session_.OnConnectionLost();
  Pump();
}

void PeerConnection::StartTls() {
  // The link asks for STARTTLS only with a client context.
  ETRND_CHECK(tls_client_ != nullptr);
  auto stream =
      transport::TlsStream::NewClient(*tls_client_, transport::TlsPeer{.host = peer_host_});
  if (!stream.ok()) {
    session_.OnTlsFailed(std::string(stream.status().message()));
    return;
  }
  tls_ = std::move(*stream);
}

void PeerConnection::SendCiphertext() {
  if (tls_ == nullptr || conn_ == nullptr) return;
  std::string ciphertext = tls_->TakeCiphertext();
  if (!ciphertext.empty()) conn_->Send(std::move(ciphertext));
}

bool PeerConnection::StartCommand(std::string_view line) {
  if (!session_.StartCommand(line)) return false;
  Pump();
  return true;
}

void PeerConnection::Abort() {
  if (conn_ == nullptr) {
    abort_on_open_ = true;  // the connect's own timeout bounds the wait
    return;
  }
  conn_->Abort();
}

void PeerConnection::OnClosed(reactor::Connection&, int error) {
  conn_ = nullptr;
  if (timeout_timer_ != 0) {
    reactor_.CancelTimer(timeout_timer_);
    timeout_timer_ = 0;
  }
  if (why_.empty()) {
    why_ = error != 0 ? std::strerror(-error) : "connection closed";
  }
  for (const smtp::SmtpReply& reply : session_.TakeCommandReplies()) {
    if (link_ != nullptr) link_->OnReply(reply);
  }
  PeerLink* link = std::exchange(link_, nullptr);
  if (link != nullptr) link->OnClosed(this, was_ready_, why_);
}

void PeerConnection::Pump() {
  for (const auto& chunk : session_.TakeOutput()) {
    if (conn_ == nullptr) continue;
    if (tls_ == nullptr) {
      conn_->Send(chunk.bytes());
    } else {
      tls_->Write(chunk.bytes()).IgnoreError();  // a failure shows in the next Feed
    }
  }
  if (tls_ != nullptr && tls_->failed() && !session_.done()) session_.OnConnectionLost();
  if (tls_ == nullptr && session_.wants_tls_start()) StartTls();
  // Replies first: a 421 to an ETRN ends the session and still answers it.
  for (const smtp::SmtpReply& reply : session_.TakeCommandReplies()) {
    if (link_ != nullptr) link_->OnReply(reply);
  }
  if (session_.done()) {
    if (why_.empty()) why_ = session_.failure().text;
    if (tls_ != nullptr) tls_->Shutdown();
    SendCiphertext();
    if (conn_ != nullptr) conn_->Close();
    return;
  }
  SendCiphertext();
  ArmTimeout();
  if (session_.idle_waiting_for_more()) {
    was_ready_ = true;
    if (link_ != nullptr) link_->OnReady();
  }
}

void PeerConnection::ArmTimeout() {
  if (timeout_timer_ != 0) reactor_.CancelTimer(timeout_timer_);
  timeout_timer_ = 0;
  absl::Duration wait = session_.reply_timeout();
  if (wait == absl::InfiniteDuration()) return;
  timeout_timer_ = reactor_.RunAfter(std::min(wait, kPeerReplyTimeoutMax), [this] {
    timeout_timer_ = 0;
    why_ = "no reply within " + absl::FormatDuration(kPeerReplyTimeoutMax);
    session_.OnTimeout();
    Pump();
    if (conn_ != nullptr) conn_->Abort();
  });
}

}  // namespace etrnd::peers

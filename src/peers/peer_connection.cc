#include "etrnd/peers/peer_connection.h"

#include <algorithm>
#include <cstring>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
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
      peer_host_(std::move(peer_host)),
      stream_([this](std::string bytes) {
        if (conn_ != nullptr) conn_->Send(std::move(bytes));
      }) {
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
  stream_.Receive(bytes, feed_);
  Pump();
}

void PeerConnection::StartTls() {
  // The link asks for STARTTLS only with a client context.
  ETRND_CHECK(tls_client_ != nullptr);
  const absl::Status status =
      stream_.StartClient(*tls_client_, transport::TlsPeer{.host = peer_host_});
  if (!status.ok()) session_.OnTlsFailed(AsStd(status.message()));
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
  for (const auto& chunk : session_.TakeOutput()) stream_.Send(chunk.bytes());
  if (stream_.failed()) session_.OnConnectionLost();
  if (!stream_.tls() && session_.wants_tls_start()) StartTls();
  // Replies first: a 421 to an ETRN ends the session and still answers it.
  for (const smtp::SmtpReply& reply : session_.TakeCommandReplies()) {
    if (link_ != nullptr) link_->OnReply(reply);
  }
  if (session_.done()) {
    if (why_.empty()) why_ = session_.failure().text;
    stream_.Shutdown();
    if (conn_ != nullptr) conn_->Close();
    return;
  }
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

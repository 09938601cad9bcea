#include "etrnd/qmgr/delivery_connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/qmgr/core_services.h"

namespace etrnd::qmgr {

DeliveryConnection::DeliveryConnection(reactor::Reactor& reactor,
                                       smtp::ClientSession::Options options,
                                       std::vector<smtp::OutboundMessage> messages,
                                       OutcomeSink outcomes, Finished finished,
                                       absl::Duration reply_timeout_max, DeliveryTls tls)
    : reactor_(reactor),
      session_(std::move(options)),
      outcomes_(std::move(outcomes)),
      finished_(std::move(finished)),
      reply_timeout_max_(reply_timeout_max),
      tls_setup_(std::move(tls)) {
  for (auto& message : messages) {
    // A fresh session takes up to max_messages_per_connection; the worker
    // never hands it more. A message dropped here would never get an
    // outcome and its flush job would wait for ever.
    const bool taken = session_.Enqueue(std::move(message));
    ETRND_CHECK(taken);
  }
}

DeliveryConnection::~DeliveryConnection() {
  if (timeout_timer_ != 0) reactor_.CancelTimer(timeout_timer_);
}

void DeliveryConnection::OnOpen(reactor::Connection& conn) {
  conn_ = &conn;
  Pump();
}

void DeliveryConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  if (tls_ != nullptr) {
    OnTlsBytes(bytes);
    return;
  }
  session_.OnBytes(bytes);
  Pump();
}

void DeliveryConnection::OnTlsBytes(std::string_view ciphertext) {
  const bool was_established = tls_->handshake_done();
  if (!tls_->Feed(ciphertext).ok()) {
    const std::string why(tls_->status().message());
    ETRND_LOG_INFO("delivery to %s: TLS %s failed: %s", tls_setup_.peer_host,
                   was_established ? "session" : "handshake", why);
    if (was_established) {
      session_.OnConnectionLost();
    } else {
      if (tls_setup_.on_handshake_failed) tls_setup_.on_handshake_failed();
      session_.OnTlsFailed(why);
    }
    SendCiphertext();  // the alert
    Pump();
    return;
  }
  if (!was_established && tls_->handshake_done()) {
    ETRND_LOG_DEBUG("delivery to %s: TLS started: %s with cipher %s", tls_setup_.peer_host,
                    std::string(tls_->version()), std::string(tls_->cipher()));
    session_.OnTlsStarted();
  }
  for (std::string plaintext; !(plaintext = tls_->TakePlaintext()).empty();) {
    session_.OnBytes(plaintext);
  }
  if (tls_->peer_closed() && !session_.done()) session_.OnConnectionLost();
  Pump();
}

void DeliveryConnection::StartTls() {
  // ClientSession asks only when options.tls is not kNever, which the
  // worker sets only together with a context.
  ETRND_CHECK(tls_setup_.context != nullptr);
  absl::StatusOr<std::unique_ptr<transport::TlsStream>> stream = transport::TlsStream::NewClient(
      *tls_setup_.context, transport::TlsPeer{.host = tls_setup_.peer_host});
  if (!stream.ok()) {
    session_.OnTlsFailed(std::string(stream.status().message()));
    return;
  }
  tls_ = std::move(*stream);
}

void DeliveryConnection::SendCiphertext() {
  if (tls_ == nullptr || conn_ == nullptr) return;
  std::string ciphertext = tls_->TakeCiphertext();
  if (!ciphertext.empty()) conn_->Send(std::move(ciphertext));
}

void DeliveryConnection::OnClosed(reactor::Connection&, int error) {
  conn_ = nullptr;
  if (!session_.done()) {
    if (error != 0) {
      ETRND_LOG_INFO("delivery connection failed: %s", std::strerror(-error));
    }
    session_.OnConnectionLost();
  }
  for (const auto& outcome : session_.TakeOutcomes()) outcomes_(outcome);
  if (timeout_timer_ != 0) {
    reactor_.CancelTimer(timeout_timer_);
    timeout_timer_ = 0;
  }
  Finished finished = std::move(finished_);
  if (finished) finished();
}

void DeliveryConnection::Pump() {
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
  for (const auto& outcome : session_.TakeOutcomes()) outcomes_(outcome);
  if (session_.done()) {
    if (tls_ != nullptr) tls_->Shutdown();  // close_notify
    SendCiphertext();
    if (conn_ != nullptr) conn_->Close();
    return;
  }
  SendCiphertext();
  ArmTimeout();
}

void DeliveryConnection::ArmTimeout() {
  if (timeout_timer_ != 0) reactor_.CancelTimer(timeout_timer_);
  timeout_timer_ = 0;
  absl::Duration wait = session_.reply_timeout();
  if (wait == absl::InfiniteDuration()) return;
  wait = std::min(wait, reply_timeout_max_);
  timeout_timer_ = reactor_.RunAfter(wait, [this] {
    timeout_timer_ = 0;
    ETRND_LOG_INFO("delivery: reply timeout from next hop");
    session_.OnTimeout();
    Pump();
    if (conn_ != nullptr) conn_->Abort();
  });
}

void ConnectDelivery(reactor::Reactor& reactor, DeliveryAttempt attempt) {
  auto handler = std::make_unique<DeliveryConnection>(
      reactor, std::move(attempt.client_options), std::move(attempt.messages),
      std::move(attempt.outcomes), std::move(attempt.finished), attempt.timeout,
      std::move(attempt.tls));
  reactor.Connect(attempt.target, std::move(handler), attempt.timeout);
}

}  // namespace etrnd::qmgr

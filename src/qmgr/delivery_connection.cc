#include "etrnd/qmgr/delivery_connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/common/strings.h"
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
      tls_setup_(std::move(tls)),
      stream_([this](std::string bytes) {
        if (conn_ != nullptr) conn_->Send(std::move(bytes));
      }) {
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
  // A flush yields to the core's sessions (see Connection::SetBackground).
  conn.SetBackground(true);
  if (on_connected_) {
    std::function<void()> connected = std::move(on_connected_);
    on_connected_ = nullptr;
    connected();
  }
  Pump();
}

void DeliveryConnection::OnReceive(reactor::Connection&, std::string_view bytes) {
  stream_.Receive(bytes, *this);
  Pump();
}

void DeliveryConnection::OnTlsStarted() {
  ETRND_LOG_DEBUG("delivery to %s: TLS started: %s with cipher %s", tls_setup_.peer_host,
                  std::string(stream_.stream()->version()),
                  std::string(stream_.stream()->cipher()));
  session_.OnTlsStarted();
}

void DeliveryConnection::OnPlaintext(std::string_view bytes) { session_.OnBytes(bytes); }

void DeliveryConnection::OnTlsFailed(std::string_view why) {
  ETRND_LOG_INFO("delivery to %s: TLS handshake failed: %s", tls_setup_.peer_host, why);
  if (tls_setup_.on_handshake_failed) tls_setup_.on_handshake_failed();
  session_.OnTlsFailed(why);
}

void DeliveryConnection::OnTlsEnded(std::string_view error) {
  if (!error.empty()) {
    ETRND_LOG_INFO("delivery to %s: TLS session failed: %s", tls_setup_.peer_host, error);
  }
  session_.OnConnectionLost();
}

void DeliveryConnection::StartTls() {
  // ClientSession asks only when options.tls is not kNever, which the
  // worker sets only together with a context.
  ETRND_CHECK(tls_setup_.context != nullptr);
  const absl::Status status =
      stream_.StartClient(*tls_setup_.context, transport::TlsPeer{.host = tls_setup_.peer_host});
  if (!status.ok()) session_.OnTlsFailed(AsStd(status.message()));
}

void DeliveryConnection::OnClosed(reactor::Connection&, int error) {
  const bool opened = conn_ != nullptr;
  conn_ = nullptr;
  if (!session_.done()) {
    if (!opened && error != 0) {
      // Refused, unreachable, timed out: each deferral (and the flush's
      // "done" line) says so; no line of its own.
      session_.OnConnectFailed(std::strerror(-error));
    } else {
      if (error != 0) ETRND_LOG_INFO("delivery connection failed: %s", std::strerror(-error));
      session_.OnConnectionLost();
    }
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
  for (const auto& chunk : session_.TakeOutput()) stream_.Send(chunk.bytes());
  if (stream_.failed()) session_.OnConnectionLost();
  if (!stream_.tls() && session_.wants_tls_start()) StartTls();
  for (const auto& outcome : session_.TakeOutcomes()) outcomes_(outcome);
  if (session_.done()) {
    stream_.Shutdown();  // close_notify
    if (conn_ != nullptr) conn_->Close();
    return;
  }
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
  handler->set_on_connected(std::move(attempt.connected));
  // A host that drops SYNs holds a ConnectGate slot until this passes.
  reactor.Connect(attempt.target, std::move(handler),
                  std::min(attempt.timeout, kConnectTimeoutMax));
}

}  // namespace etrnd::qmgr

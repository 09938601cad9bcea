#include "etrnd/server/delivery_connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"

namespace etrnd::server {

DeliveryConnection::DeliveryConnection(reactor::Reactor& reactor,
                                       smtp::ClientSession::Options options,
                                       std::vector<smtp::OutboundMessage> messages,
                                       OutcomeSink outcomes, Finished finished,
                                       absl::Duration reply_timeout_max)
    : reactor_(reactor),
      session_(std::move(options)),
      outcomes_(std::move(outcomes)),
      finished_(std::move(finished)),
      reply_timeout_max_(reply_timeout_max) {
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
  session_.OnBytes(bytes);
  Pump();
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
    if (conn_ != nullptr) conn_->Send(chunk.bytes());
  }
  for (const auto& outcome : session_.TakeOutcomes()) outcomes_(outcome);
  if (session_.done()) {
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

}  // namespace etrnd::server

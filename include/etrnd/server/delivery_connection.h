// One outbound SMTP connection of a delivery worker: binds a reactor
// connection to the pure smtp::ClientSession, adds the reply timeout,
// and reports each recipient's outcome as soon as the next hop answered.
#pragma once

#include <functional>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/reactor/reactor.h"

namespace etrnd::server {

class DeliveryConnection : public reactor::ConnectionHandler {
 public:
  using OutcomeSink = std::function<void(const smtp::RecipientOutcome&)>;
  // Runs once, after the last outcome, when the connection is gone.
  using Finished = std::function<void()>;

  // The messages' data must stay alive until `finished` runs.
  DeliveryConnection(reactor::Reactor& reactor, smtp::ClientSession::Options options,
                     std::vector<smtp::OutboundMessage> messages, OutcomeSink outcomes,
                     Finished finished, absl::Duration reply_timeout_max);
  ~DeliveryConnection() override;

  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnClosed(reactor::Connection& conn, int error) override;

 private:
  void Pump();
  void ArmTimeout();

  reactor::Reactor& reactor_;
  smtp::ClientSession session_;
  OutcomeSink outcomes_;
  Finished finished_;
  reactor::Connection* conn_ = nullptr;
  reactor::Reactor::TimerId timeout_timer_ = 0;
  const absl::Duration reply_timeout_max_;  // --delivery_timeout caps RFC 5321's
};

}  // namespace etrnd::server

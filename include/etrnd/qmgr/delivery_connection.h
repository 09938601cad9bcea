// One outbound SMTP connection of a delivery worker: binds a reactor
// connection to the pure smtp::ClientSession, adds the reply timeout,
// and reports each recipient's outcome as soon as the next hop answered.
// After STARTTLS a transport::TlsPump encrypts the session's bytes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::qmgr {

// The longest a connect may take (Postfix's smtp_connect_timeout), however
// long --delivery_timeout gives a reply.
inline constexpr absl::Duration kConnectTimeoutMax = absl::Seconds(30);

// How a connection may use STARTTLS (options.tls says whether it must).
struct DeliveryTls {
  std::shared_ptr<const transport::TlsContext> context;  // null: never
  // The next hop as the table names it (host name or IP literal) or the MX
  // host's name: SNI and, with a verifying context, what must match.
  std::string peer_host;
  // Runs when the handshake fails (before the outcomes are reported).
  std::function<void()> on_handshake_failed = {};
};

class DeliveryConnection : public reactor::ConnectionHandler, private transport::TlsPumpListener {
 public:
  using OutcomeSink = std::function<void(const smtp::RecipientOutcome&)>;
  // Runs once, after the last outcome, when the connection is gone.
  using Finished = std::function<void()>;

  // The messages' data must stay alive until `finished` runs.
  DeliveryConnection(reactor::Reactor& reactor, smtp::ClientSession::Options options,
                     std::vector<smtp::OutboundMessage> messages, OutcomeSink outcomes,
                     Finished finished, absl::Duration reply_timeout_max, DeliveryTls tls = {});
  ~DeliveryConnection() override;

  // Runs once when the TCP connection is up (ConnectGate frees its slot).
  void set_on_connected(std::function<void()> fn) { on_connected_ = std::move(fn); }

  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnClosed(reactor::Connection& conn, int error) override;

 private:
  void Pump();
  void ArmTimeout();
  void StartTls();
  // What the pump found, for the session (with the TLS log lines).
  void OnTlsStarted() override;
  void OnPlaintext(std::string_view bytes) override;
  void OnTlsFailed(std::string_view why) override;
  void OnTlsEnded(std::string_view error) override;

  reactor::Reactor& reactor_;
  smtp::ClientSession session_;
  OutcomeSink outcomes_;
  Finished finished_;
  std::function<void()> on_connected_;
  reactor::Connection* conn_ = nullptr;
  reactor::Reactor::TimerId timeout_timer_ = 0;
  const absl::Duration reply_timeout_max_;  // --delivery_timeout caps RFC 5321's
  DeliveryTls tls_setup_;
  transport::TlsPump stream_;  // in clear, or TLS after STARTTLS got 220
};

}  // namespace etrnd::qmgr

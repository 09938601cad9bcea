// One persistent SMTP connection from a core to a peer: binds a reactor
// connection to the pure smtp::ClientSession (quit_when_idle = false), runs
// STARTTLS through a transport::TlsPump when the session asks, bounds
// every wait for a reply, and tells its PeerLink when the session is ready
// for a command, when a command's reply came, and when it is gone.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/smtp/client_session.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::peers {

class PeerLink;

// A peer answers ETRN at once (its reply does not wait for its own peers
// longer than its --peer_timeout); one that is silent this long is treated
// as down, whatever RFC 5321's minutes-long timeouts allow.
inline constexpr absl::Duration kPeerReplyTimeoutMax = absl::Seconds(5);

class PeerConnection : public reactor::ConnectionHandler {
 public:
  PeerConnection(reactor::Reactor& reactor, PeerLink* link, smtp::ClientSession::Options options,
                 std::shared_ptr<const transport::TlsContext> tls_client, std::string peer_host);
  ~PeerConnection() override;

  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnClosed(reactor::Connection& conn, int error) override;

  // Between commands, greeting and EHLO (and TLS, AUTH) done.
  bool ready() const { return session_.idle_waiting_for_more(); }
  // Only when ready(); the reply goes to PeerLink::OnReply.
  bool StartCommand(std::string_view line);
  // Closes now (shutdown), also before the connect completed.
  void Abort();
  // The link is going away: no more calls into it.
  void Detach() { link_ = nullptr; }

 private:
  void Pump();
  void ArmTimeout();
  void StartTls();

  reactor::Reactor& reactor_;
  PeerLink* link_;
  smtp::ClientSession session_;
  std::shared_ptr<const transport::TlsContext> tls_client_;
  const std::string peer_host_;  // SNI: the --peers host without its port
  reactor::Connection* conn_ = nullptr;
  reactor::Reactor::TimerId timeout_timer_ = 0;
  bool abort_on_open_ = false;
  bool was_ready_ = false;     // the session got as far as ready() once
  std::string why_;            // what ended the session, for the link's log
  transport::TlsPump stream_;  // in clear, or TLS after STARTTLS got 220
  transport::SessionFeed<smtp::ClientSession> feed_{session_};
};

}  // namespace etrnd::peers

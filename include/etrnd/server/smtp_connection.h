// Binds one accepted TCP connection (reactor) to one SMTP server session
// (pure protocol): bytes in, replies out; the session's storage and ETRN
// requests are served by the core. On a PROXY protocol listener it first
// reads the header that names the real client; only then is the client
// admitted and greeted. After STARTTLS a transport::TlsPump sits between
// the two: ciphertext to and from the connection, plaintext to and from the
// session (the reactor never sees TLS, the session never sees ciphertext).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "etrnd/proxy/proxy_header.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/smtp/server_session.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::server {

class Core;

// Whether a connection starts with a PROXY protocol header (a listener in
// --proxy_protocol_listen) or with the client's own bytes.
enum class ProxyHeaderMode { kNone, kExpected };

class SmtpConnection : public reactor::ConnectionHandler,
                       public smtp::SessionServices,
                       private transport::TlsPumpListener {
 public:
  SmtpConnection(Core& core, SocketAddress peer, ProxyHeaderMode proxy_mode);
  ~SmtpConnection() override;

  // reactor::ConnectionHandler
  void OnOpen(reactor::Connection& conn) override;
  void OnReceive(reactor::Connection& conn, std::string_view bytes) override;
  void OnSendDrained(reactor::Connection& conn) override;
  void OnClosed(reactor::Connection& conn, int error) override;

  // smtp::SessionServices
  smtp::RecipientVerdict CheckRecipient(std::string_view domain) override;
  std::string NewQueueId() override;
  void StoreMessage(smtp::AcceptedMessage message) override;
  void StartEtrn(std::string_view argument) override;
  smtp::AuthOffer AuthOffered() override;
  bool AuthLockedOut() override;
  void VerifyCredentials(auth::SaslCredentials credentials) override;
  size_t UnsentOutputBytes() override;
  void OnRefused(int reply_code) override;
  void OnEtrnAnswered(int reply_code) override;

  // From the core: results of asynchronous requests, timeouts, shutdown.
  void DeliverStoreResult(absl::StatusOr<std::string> queue_id);
  void DeliverEtrnResult(std::string reply_line);
  void DeliverAuthResult(smtp::AuthVerdict verdict);
  // The once-a-second deadline check: the PROXY header's deadline, the
  // session's own deadlines, and output that has not drained within the idle
  // timeout (-> abort).
  void CheckDeadlines(absl::Time now, absl::Duration idle_timeout);
  void Shutdown();

 private:
  // Admission, then the session and its 220 greeting, for client_.
  void StartSession();
  // Bytes before the PROXY header is complete; what follows it is SMTP.
  void OnProxyBytes(std::string_view bytes);
  // Closes without a greeting (untrusted peer, bad or missing header).
  void RefuseProxied(std::string_view reason);
  void Flush();
  // STARTTLS: the session said 220; from now on bytes go through TLS.
  void StartTls();
  // What the pump found, for the session.
  void OnTlsStarted() override;
  void OnPlaintext(std::string_view bytes) override;
  void OnTlsFailed(std::string_view why) override;
  void OnTlsEnded(std::string_view error) override;
  void CloseAfterTls(std::string_view what, std::string_view error);
  // Reads from the socket only while the session wants input.
  void UpdateReading();

  Core& core_;
  // The socket's peer: the load balancer on a PROXY listener.
  const SocketAddress peer_;
  // The client everything is about (admission, ETRN ACLs, Received:, logs):
  // peer_, or the source address from the PROXY header.
  SocketAddress client_;
  // Engaged while the PROXY header is awaited; nothing else happens then.
  std::optional<proxy::ProxyHeaderParser> proxy_parser_;
  absl::Time proxy_deadline_ = absl::InfiniteFuture();
  reactor::Connection* conn_ = nullptr;
  std::optional<smtp::ServerSession> session_;
  transport::TlsPump stream_;   // in clear, or TLS after STARTTLS
  bool closed_by_tls_ = false;  // a TLS failure or close_notify closed it
  uint64_t session_id_ = 0;     // 0 = not registered with the core
  bool admitted_ = false;
  bool ever_paused_ = false;
  absl::Time output_blocked_since_ = absl::InfiniteFuture();
};

}  // namespace etrnd::server

// Glue between one client connection and its ClientSession: bytes from the
// socket go to the session (through a TlsPump, decrypted after STARTTLS),
// the session's bytes go to the socket (encrypted likewise), and results go
// to the worker. Owned by the Connection, so the worker only keeps a
// pointer while it is alive.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "etrnd/blaster/client_session.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::blaster {

class ClientWorker;

class SessionHandler : public reactor::ConnectionHandler {
 public:
  // tls_context: the client context for --starttls (null without it).
  SessionHandler(ClientWorker& worker, int slot, ClientSessionConfig config,
                 std::shared_ptr<const transport::TlsContext> tls_context);

  void OnOpen(reactor::Connection& connection) override;
  void OnReceive(reactor::Connection& connection, std::string_view bytes) override;
  void OnClosed(reactor::Connection& connection, int error) override;

  ClientSession& session() { return session_; }
  reactor::Connection* connection() { return connection_; }
  // Does what the session asked for: writes (encrypted under TLS), starts
  // the TLS handshake, closes.
  void Perform(ClientActions& actions);
  void TimeOut();

 private:
  void StartTls(ClientActions* actions);

  ClientWorker& worker_;
  const int slot_;
  ClientSession session_;
  std::shared_ptr<const transport::TlsContext> tls_context_;
  reactor::Connection* connection_ = nullptr;
  transport::TlsPump stream_;  // in clear, or TLS after STARTTLS got 220
  bool was_ready_ = false;
  bool timed_out_ = false;
};

}  // namespace etrnd::blaster

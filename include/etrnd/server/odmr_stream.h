// The byte stream of one ODMR connection, in clear or under TLS once
// STARTTLS was answered: the server session's glue (OdmrConnection) uses it,
// then hands it with the connection to the turn (OdmrTurn), so that the
// reversed SMTP dialogue stays inside the same TLS session.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "etrnd/reactor/connection.h"
#include "etrnd/transport/tls_context.h"
#include "etrnd/transport/tls_pump.h"

namespace etrnd::server {

class OdmrStream {
 public:
  explicit OdmrStream(reactor::Connection& conn);
  // The pump's send callback points at this object.
  OdmrStream(const OdmrStream&) = delete;
  OdmrStream& operator=(const OdmrStream&) = delete;

  // Server side of STARTTLS: bytes from now on are TLS records.
  absl::Status StartTls(const transport::TlsContext& context) { return pump_.StartServer(context); }
  bool tls() const { return pump_.tls(); }
  bool tls_established() const { return pump_.established(); }

  // Received bytes in, plaintext out ("" while a handshake runs). An error
  // (TLS failed) means: close. *established: the handshake finished now.
  absl::Status Receive(std::string_view bytes, std::string* plaintext, bool* established);
  void Send(std::string_view plaintext) { pump_.Send(plaintext); }
  // Under TLS: close_notify first. Then the connection closes (queued bytes
  // are written first).
  void Close();
  void Abort() { conn_->Abort(); }
  reactor::Connection& connection() { return *conn_; }

 private:
  reactor::Connection* conn_;
  transport::TlsPump pump_;
};

}  // namespace etrnd::server

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
#include "etrnd/transport/tls_stream.h"

namespace etrnd::server {

class OdmrStream {
 public:
  explicit OdmrStream(reactor::Connection& conn) : conn_(&conn) {}

  // Server side of STARTTLS: bytes from now on are TLS records.
  absl::Status StartTls(const transport::TlsContext& context);
  bool tls() const { return tls_ != nullptr; }
  bool tls_established() const { return tls_ != nullptr && tls_->handshake_done(); }

  // Received bytes in, plaintext out ("" while a handshake runs). An error
  // (TLS failed) means: close. *established: the handshake finished now.
  absl::Status Receive(std::string_view bytes, std::string* plaintext, bool* established);
  void Send(std::string_view plaintext);
  // Under TLS: close_notify first. Then the connection closes (queued bytes
  // are written first).
  void Close();
  void Abort() { conn_->Abort(); }
  reactor::Connection& connection() { return *conn_; }

 private:
  void SendCiphertext();

  reactor::Connection* conn_;
  std::unique_ptr<transport::TlsStream> tls_;
};

}  // namespace etrnd::server

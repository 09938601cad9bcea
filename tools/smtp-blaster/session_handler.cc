#include "etrnd/blaster/session_handler.h"

#include <utility>

#include "etrnd/blaster/client_worker.h"

namespace etrnd::blaster {

SessionHandler::SessionHandler(ClientWorker& worker, int slot, ClientSessionConfig config,
                               std::shared_ptr<const transport::TlsContext> tls_context)
    : worker_(worker),
      slot_(slot),
      session_(std::move(config)),
      tls_context_(std::move(tls_context)) {}

void SessionHandler::OnOpen(reactor::Connection& connection) {
  connection_ = &connection;
  worker_.OnSessionOpen(slot_);
}

void SessionHandler::OnReceive(reactor::Connection& /*connection*/, std::string_view bytes) {
  ClientActions actions;
  if (tls_ != nullptr) {
    ReceiveTls(bytes, &actions);
  } else {
    session_.OnReceive(bytes, &actions);
  }
  if (actions.ready) was_ready_ = true;
  worker_.Apply(slot_, actions);
}

void SessionHandler::ReceiveTls(std::string_view ciphertext, ClientActions* actions) {
  const absl::Status status = tls_->Feed(ciphertext);
  FlushCiphertext();  // handshake messages, alerts
  if (!status.ok()) {
    if (tls_started_) {
      session_.OnConnectionLost("tls", actions);
      actions->close = true;
    } else {
      session_.OnTlsFailed(std::string(status.message()), actions);
    }
    return;
  }
  if (!tls_started_ && tls_->handshake_done()) {
    tls_started_ = true;
    session_.OnTlsStarted(actions);
  }
  // Plaintext comes out in bounded pieces; taking it lets more decrypt.
  for (std::string plaintext = tls_->TakePlaintext(); !plaintext.empty();
       plaintext = tls_->TakePlaintext()) {
    session_.OnReceive(plaintext, actions);
  }
}

void SessionHandler::OnClosed(reactor::Connection& /*connection*/, int /*error*/) {
  const bool opened = connection_ != nullptr;
  connection_ = nullptr;
  if (!opened) return worker_.OnConnectFailed(slot_);
  ClientActions actions;
  session_.OnConnectionLost(timed_out_ ? "timeout" : "connection", &actions);
  worker_.Apply(slot_, actions);
  worker_.OnSessionClosed(slot_, was_ready_);
}

void SessionHandler::Perform(ClientActions& actions) {
  for (std::string& bytes : actions.sends) {
    if (tls_ != nullptr) {
      Write(bytes);
    } else if (connection_ != nullptr) {
      connection_->Send(std::move(bytes));
    }
  }
  if (actions.start_tls) StartTls(&actions);
  if (actions.close && connection_ != nullptr) {
    if (tls_ != nullptr) {
      tls_->Shutdown();
      FlushCiphertext();
    }
    connection_->Close();
  }
}

void SessionHandler::StartTls(ClientActions* actions) {
  absl::StatusOr<std::unique_ptr<transport::TlsStream>> stream =
      tls_context_ == nullptr ? absl::FailedPreconditionError("no TLS context")
                              : transport::TlsStream::NewClient(*tls_context_, {});
  if (!stream.ok()) {
    ClientActions failed;
    session_.OnTlsFailed(std::string(stream.status().message()), &failed);
    actions->close = true;
    for (const TransactionResult& result : failed.results) actions->results.push_back(result);
    if (!failed.session_error.empty()) actions->session_error = failed.session_error;
    return;
  }
  tls_ = *std::move(stream);
  FlushCiphertext();  // the ClientHello
}

void SessionHandler::Write(std::string_view plaintext) {
  if (!tls_->Write(plaintext).ok()) {
    if (connection_ != nullptr) connection_->Abort();
    return;
  }
  FlushCiphertext();
}

void SessionHandler::FlushCiphertext() {
  if (connection_ == nullptr || tls_ == nullptr) return;
  std::string ciphertext = tls_->TakeCiphertext();
  if (!ciphertext.empty()) connection_->Send(std::move(ciphertext));
}

void SessionHandler::TimeOut() {
  timed_out_ = true;
  if (connection_ != nullptr) connection_->Abort();
}

}  // namespace etrnd::blaster

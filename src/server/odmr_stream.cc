#include "etrnd/server/odmr_stream.h"

#include <utility>

#include "etrnd/common/check.h"

namespace etrnd::server {

absl::Status OdmrStream::StartTls(const transport::TlsContext& context) {
  ETRND_CHECK(tls_ == nullptr);
  absl::StatusOr<std::unique_ptr<transport::TlsStream>> stream =
      transport::TlsStream::NewServer(context);
  if (!stream.ok()) return stream.status();
  tls_ = std::move(*stream);
  return absl::OkStatus();
}

absl::Status OdmrStream::Receive(std::string_view bytes, std::string* plaintext,
                                 bool* established) {
  *established = false;
  if (tls_ == nullptr) {
    plaintext->assign(bytes);
    return absl::OkStatus();
  }
  const bool was_established = tls_->handshake_done();
  absl::Status status = tls_->Feed(bytes);
  SendCiphertext();  // handshake messages, or the alert of a failure
  if (!status.ok()) return status;
  *established = !was_established && tls_->handshake_done();
  plaintext->clear();
  for (std::string chunk; !(chunk = tls_->TakePlaintext()).empty();) plaintext->append(chunk);
  if (tls_->peer_closed()) return absl::CancelledError("peer sent close_notify");
  return absl::OkStatus();
}

void OdmrStream::Send(std::string_view plaintext) {
  if (plaintext.empty()) return;
  if (tls_ == nullptr) {
    conn_->Send(plaintext);
    return;
  }
  tls_->Write(plaintext).IgnoreError();  // a failure shows at the next Receive
  SendCiphertext();
}

void OdmrStream::Close() {
  if (tls_ != nullptr) {
    tls_->Shutdown();
    SendCiphertext();
  }
  conn_->Close();
}

void OdmrStream::SendCiphertext() {
  std::string ciphertext = tls_->TakeCiphertext();
  if (!ciphertext.empty()) conn_->Send(std::move(ciphertext));
}

}  // namespace etrnd::server

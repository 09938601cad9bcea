#include "etrnd/transport/tls_pump.h"

#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::transport {

TlsPump::TlsPump(SendFn send) : send_(std::move(send)) { ETRND_CHECK(send_ != nullptr); }

absl::Status TlsPump::StartClient(const TlsContext& context, const TlsPeer& peer) {
  return Start(TlsStream::NewClient(context, peer));
}

absl::Status TlsPump::StartServer(const TlsContext& context) {
  return Start(TlsStream::NewServer(context));
}

absl::Status TlsPump::Start(absl::StatusOr<std::unique_ptr<TlsStream>> stream) {
  // STARTTLS happens once per connection (RFC 3207 4.2).
  ETRND_CHECK(tls_ == nullptr);
  if (!stream.ok()) return stream.status();
  tls_ = *std::move(stream);
  Flush();  // a client's ClientHello
  return absl::OkStatus();
}

void TlsPump::Receive(std::string_view bytes, TlsPumpListener& listener) {
  if (ended_) return;
  if (tls_ == nullptr) {
    listener.OnPlaintext(bytes);
    return;
  }
  const bool was_established = tls_->handshake_done();
  const absl::Status status = tls_->Feed(bytes);
  Flush();  // handshake messages, or the alert of a failure
  if (!status.ok()) {
    ended_ = true;
    // Never empty: an empty error would read as a close_notify.
    const std::string_view error =
        status.message().empty() ? std::string_view("TLS failed") : AsStd(status.message());
    if (was_established) {
      listener.OnTlsEnded(error);
    } else {
      listener.OnTlsFailed(error);
    }
    return;
  }
  if (!was_established && tls_->handshake_done()) listener.OnTlsStarted();
  // Taking plaintext lets decryption of held records go on (bounded pieces).
  for (std::string plaintext; !(plaintext = tls_->TakePlaintext()).empty();) {
    listener.OnPlaintext(plaintext);
  }
  if (tls_->peer_closed()) {
    ended_ = true;
    listener.OnTlsEnded("");
  }
}

void TlsPump::Send(std::string_view plaintext) {
  if (plaintext.empty()) return;
  if (tls_ == nullptr) {
    send_(std::string(plaintext));
    return;
  }
  tls_->Write(plaintext).IgnoreError();  // a failure shows in failed()
  Flush();
}

void TlsPump::SendOwned(std::string&& plaintext) {
  if (tls_ != nullptr || plaintext.empty()) return Send(std::string_view(plaintext));
  send_(std::move(plaintext));
}

void TlsPump::Shutdown() {
  if (tls_ == nullptr) return;
  tls_->Shutdown();
  Flush();
}

void TlsPump::Flush() {
  std::string ciphertext = tls_->TakeCiphertext();
  if (!ciphertext.empty()) send_(std::move(ciphertext));
}

}  // namespace etrnd::transport

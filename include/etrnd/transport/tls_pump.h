// The byte stream of one connection, in clear or under TLS once started:
// bytes from the socket go in and plaintext comes out to a listener;
// plaintext goes in and what must go on the wire leaves through the `send`
// callback (handshake messages, records, alerts). Every SMTP glue that runs
// STARTTLS (inbound SMTP, delivery, peer links, ODMR, smtp-blaster) drives
// its TlsStream through this one class. It knows no reactor: `send` writes
// to the caller's connection.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "etrnd/transport/tls_context.h"
#include "etrnd/transport/tls_stream.h"

namespace etrnd::transport {

// What one Receive() found, in the order it happened.
class TlsPumpListener {
 public:
  virtual ~TlsPumpListener() = default;
  // The handshake finished; comes before the first plaintext under TLS.
  virtual void OnTlsStarted() = 0;
  // Bytes from the peer (decrypted under TLS), in bounded pieces.
  virtual void OnPlaintext(std::string_view bytes) = 0;
  // The handshake failed (the alert is sent). Nothing more comes.
  virtual void OnTlsFailed(std::string_view why) = 0;
  // After the handshake: a bad record (`error` says what), or the peer's
  // close_notify (`error` empty). Nothing more comes.
  virtual void OnTlsEnded(std::string_view error) = 0;
};

// Hands what a pump found to a session with smtp::ClientSession's verbs
// (named, not included: transport knows no SMTP). An end of the TLS session
// is a lost connection to it.
template <typename Session>
class SessionFeed : public TlsPumpListener {
 public:
  explicit SessionFeed(Session& session) : session_(session) {}
  void OnTlsStarted() override { session_.OnTlsStarted(); }
  void OnPlaintext(std::string_view bytes) override { session_.OnBytes(bytes); }
  void OnTlsFailed(std::string_view why) override { session_.OnTlsFailed(why); }
  void OnTlsEnded(std::string_view /*error*/) override { session_.OnConnectionLost(); }

 private:
  Session& session_;
};

class TlsPump {
 public:
  using SendFn = std::function<void(std::string bytes)>;
  explicit TlsPump(SendFn send);

  // From now on the stream is TLS; the client's ClientHello goes out now.
  // An error: no stream was made (the pump stays in clear).
  absl::Status StartClient(const TlsContext& context, const TlsPeer& peer);
  absl::Status StartServer(const TlsContext& context);

  // Bytes from the socket. Under TLS: advances the handshake, sends what it
  // made (handshake messages, the alert of a failure), passes plaintext on.
  // After OnTlsFailed or OnTlsEnded further bytes are dropped.
  void Receive(std::string_view bytes, TlsPumpListener& listener);
  // Plaintext for the peer: in clear as it is; under TLS encrypted (held
  // until the handshake completes). A failure shows in failed().
  void Send(std::string_view plaintext);
  // The same for bytes the caller gives up: in clear moved, not copied.
  void SendOwned(std::string&& plaintext);
  // Under TLS: close_notify (once). The caller closes its connection after.
  void Shutdown();

  bool tls() const { return tls_ != nullptr; }
  bool established() const { return tls_ != nullptr && tls_->handshake_done(); }
  // The TLS session failed (in Receive or Send): the caller ends its session.
  bool failed() const { return tls_ != nullptr && tls_->failed(); }
  // For logs and back-pressure (version, cipher, buffered bytes); null in clear.
  const TlsStream* stream() const { return tls_.get(); }

 private:
  absl::Status Start(absl::StatusOr<std::unique_ptr<TlsStream>> stream);
  void Flush();

  SendFn send_;
  std::unique_ptr<TlsStream> tls_;
  bool ended_ = false;  // the listener heard OnTlsFailed or OnTlsEnded
};

}  // namespace etrnd::transport

// One TLS session (OpenSSL 3) as a pure byte transformer: the caller feeds
// it ciphertext read from the socket and takes plaintext out; it gives it
// plaintext and takes ciphertext to send. Memory BIOs sit on both sides, so
// handshakes and records never block and never touch a socket: a reactor
// drives it like any other protocol state machine.
//
// Every buffer is bounded (constants below). A fatal error (bad records, a
// failed handshake or verification, a buffer over its bound) leaves the
// stream failed(): status() says why, and TakeCiphertext() may still hold
// an alert worth sending before the connection is closed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etrnd/transport/tls_context.h"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace etrnd::transport {

// Decrypted bytes held for the caller; decryption pauses at this bound and
// resumes as the caller takes them.
inline constexpr size_t kTlsMaxPlaintextInBytes = 64 * 1024;
// Ciphertext fed but not yet decrypted (a partial record, or records held
// while the plaintext is full). A record is at most 16 KiB plus overhead.
inline constexpr size_t kTlsMaxCiphertextInBytes = 128 * 1024;
// Plaintext written before the handshake completed, held until it does.
inline constexpr size_t kTlsMaxEarlyPlaintextOutBytes = 256 * 1024;

// For a client stream: whom it talks to.
struct TlsPeer {
  // The next hop's host name as the caller knows it (table or MX name), or
  // an IP literal ("192.0.2.1", "2001:db8::1"). A name is sent as SNI; when
  // the context verifies, the certificate must match it (an IP literal
  // against an IP SAN). "" = no SNI and, when verifying, chain only.
  std::string host;
};

class TlsStream {
 public:
  static absl::StatusOr<std::unique_ptr<TlsStream>> NewServer(const TlsContext& context);
  static absl::StatusOr<std::unique_ptr<TlsStream>> NewClient(const TlsContext& context,
                                                              const TlsPeer& peer);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Ciphertext from the peer. Advances the handshake, decrypts what it can.
  // Returns status() (an error once failed).
  absl::Status Feed(std::string_view ciphertext);
  // Plaintext decrypted so far; taking it lets decryption of held records
  // continue (call again until it returns "").
  std::string TakePlaintext();
  // Plaintext to send. Held until the handshake completes.
  absl::Status Write(std::string_view plaintext);
  // Ciphertext to send now (handshake messages, records, alerts).
  std::string TakeCiphertext();
  // Sends close_notify (RFC 8446 6.1) once; after it nothing is written.
  void Shutdown();

  bool handshake_done() const { return handshake_done_; }
  bool failed() const { return !status_.ok(); }
  const absl::Status& status() const { return status_; }
  // The peer sent close_notify: no more plaintext will come.
  bool peer_closed() const { return peer_closed_; }
  // After the handshake: "TLSv1.3", and the cipher suite's name
  // ("TLS_AES_256_GCM_SHA384").
  std::string_view version() const;
  std::string_view cipher() const;
  // Back-pressure accounting: bytes held on the way out (early plaintext and
  // ciphertext not yet taken), and on the way in.
  size_t buffered_output_bytes() const;
  size_t buffered_input_bytes() const;

 private:
  explicit TlsStream(SSL* ssl, BIO* in, BIO* out, bool server);
  void Pump();  // handshake, early writes, decryption
  void Fail(absl::Status status);
  void HandleSslError(int result, std::string_view operation);

  SSL* ssl_;  // owns the BIOs
  BIO* in_;   // ciphertext from the peer, read by OpenSSL
  BIO* out_;  // ciphertext from OpenSSL, for the peer
  const bool server_;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  bool shut_down_ = false;
  absl::Status status_;
  std::string plaintext_in_;
  std::string early_out_;  // written before the handshake completed
};

}  // namespace etrnd::transport

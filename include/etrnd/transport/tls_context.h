// src/transport owns the byte stream between a reactor connection and an
// SMTP session: plain, or TLS (OpenSSL 3) driven entirely through memory
// BIOs. It never touches a socket or io_uring, and it knows no SMTP.
//
// TlsContext: the loaded, shareable configuration of one side (server:
// certificate chain + key; client: trust store + whether to verify).
// Loading reads files, so it runs at start-up or on the SIGHUP reload, never
// on a reactor thread; the loaded context is immutable and may be shared by
// every core (OpenSSL's SSL_CTX is safe to use from many threads for
// SSL_new). Streams keep the SSL_CTX alive themselves, so a reload may drop
// the old context while sessions still use it.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace etrnd::transport {

struct TlsServerConfig {
  std::string cert_file{};  // PEM: the certificate, then its chain
  std::string key_file{};   // PEM private key
  // OpenSSL cipher list for TLS 1.2 ("" = OpenSSL's default). TLS 1.3
  // suites are OpenSSL's defaults (all of them are strong).
  std::string ciphers{};
};

struct TlsClientConfig {
  std::string ca_file{};  // PEM CAs; "" = the system store
  // Verify the peer's chain (and, per stream, its name). Off: opportunistic
  // encryption (RFC 7435), any certificate is accepted.
  bool verify = false;
};

class TlsContext {
 public:
  // Errors name the file and say what OpenSSL found wrong.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> NewServer(const TlsServerConfig& config);
  static absl::StatusOr<std::shared_ptr<const TlsContext>> NewClient(const TlsClientConfig& config);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return server_; }
  bool verifies_peer() const { return verify_; }
  // For the start-up and reload logs: e.g. "cert /etc/x.pem (subject CN=mx,
  // serial 01AB)".
  const std::string& description() const { return description_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  TlsContext(SSL_CTX* ctx, bool server, bool verify, std::string description);

  SSL_CTX* ctx_;  // owned (one reference)
  bool server_;
  bool verify_;
  std::string description_;
};

}  // namespace etrnd::transport

#include "etrnd/transport/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"
#include "openssl_errors.h"

namespace etrnd::transport {
namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

absl::Status FileError(std::string_view what, std::string_view file) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(what), " ", AsAbsl(file), ": ", DrainOpenSslErrors()));
}

// What the log says about a loaded certificate.
std::string DescribeCertificate(SSL_CTX* ctx, std::string_view file) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  ETRND_CHECK(cert != nullptr);
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
  std::string serial = "?";
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  return absl::StrCat("certificate ", AsAbsl(file), " (subject ", subject, ", serial ", serial,
                      ")");
}

// Both sides: TLS 1.2 at least (RFC 8996, RFC 9325), no renegotiation (a
// CPU sink for hostile peers), and buffers released while idle: tens of
// thousands of sessions mostly wait.
CtxPtr NewBaseContext(const SSL_METHOD* method) {
  CtxPtr ctx(SSL_CTX_new(method));
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace

TlsContext::TlsContext(SSL_CTX* ctx, bool server, bool verify, std::string description)
    : ctx_(ctx), server_(server), verify_(verify), description_(std::move(description)) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::NewServer(
    const TlsServerConfig& config) {
  ERR_clear_error();
  if (config.cert_file.empty() || config.key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  CtxPtr ctx = NewBaseContext(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + DrainOpenSslErrors());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), config.cert_file.c_str()) != 1) {
    return FileError("certificate file", config.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return FileError("key file", config.key_file);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", config.key_file,
                                                   " does not match certificate file ",
                                                   config.cert_file, ": ", DrainOpenSslErrors()));
  }
  if (!config.ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), config.ciphers.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cipher list \"", config.ciphers, "\": ", DrainOpenSslErrors()));
  }
  // The server's order: the operator's list decides, not the client's.
  SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Clients present no certificate (AUTH authenticates them).
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::string description = DescribeCertificate(ctx.get(), config.cert_file);
  return std::shared_ptr<const TlsContext>(
      new TlsContext(ctx.release(), /*server=*/true, /*verify=*/false, std::move(description)));
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::NewClient(
    const TlsClientConfig& config) {
  ERR_clear_error();
  CtxPtr ctx = NewBaseContext(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + DrainOpenSslErrors());
  std::string description;
  if (config.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return absl::InvalidArgumentError("system CA store: " + DrainOpenSslErrors());
    }
    description = "system CA store";
  } else {
    if (SSL_CTX_load_verify_locations(ctx.get(), config.ca_file.c_str(), nullptr) != 1) {
      return FileError("CA file", config.ca_file);
    }
    description = absl::StrCat("CA file ", config.ca_file);
  }
  SSL_CTX_set_verify(ctx.get(), config.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return std::shared_ptr<const TlsContext>(
      new TlsContext(ctx.release(), /*server=*/false, config.verify, std::move(description)));
}

}  // namespace etrnd::transport

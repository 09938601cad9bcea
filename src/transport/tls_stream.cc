#include "etrnd/transport/tls_stream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"
#include "openssl_errors.h"

namespace etrnd::transport {
namespace {

// One TLS record's plaintext at most per read (RFC 8446 5.1).
constexpr size_t kReadChunkBytes = 16 * 1024;

bool IsIpLiteral(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 ||
         inet_pton(AF_INET6, host.c_str(), address) == 1;
}

// "[2001:db8::1]" and "mx.example.com." are written forms of the same host
// as far as a certificate is concerned.
std::string NormalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return std::string(host);
}

}  // namespace

TlsStream::TlsStream(SSL* ssl, BIO* in, BIO* out, bool server)
    : ssl_(ssl), in_(in), out_(out), server_(server) {}

TlsStream::~TlsStream() { SSL_free(ssl_); }

namespace {

// An SSL object on two memory BIOs: the caller moves ciphertext in and out.
absl::StatusOr<SSL*> NewMemoryBioSsl(const TlsContext& context) {
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native());
  if (ssl == nullptr) return absl::ResourceExhaustedError("SSL_new: " + DrainOpenSslErrors());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    return absl::ResourceExhaustedError("BIO_new: " + DrainOpenSslErrors());
  }
  // An empty memory BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl, in, out);
  return ssl;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::NewServer(const TlsContext& context) {
  ETRND_CHECK(context.is_server());
  absl::StatusOr<SSL*> ssl = NewMemoryBioSsl(context);
  if (!ssl.ok()) return ssl.status();
  SSL_set_accept_state(*ssl);
  return std::unique_ptr<TlsStream>(
      new TlsStream(*ssl, SSL_get_rbio(*ssl), SSL_get_wbio(*ssl), /*server=*/true));
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::NewClient(const TlsContext& context,
                                                                const TlsPeer& peer) {
  ETRND_CHECK(!context.is_server());
  absl::StatusOr<SSL*> created = NewMemoryBioSsl(context);
  if (!created.ok()) return created.status();
  SSL* ssl = *created;
  SSL_set_connect_state(ssl);
  std::unique_ptr<TlsStream> stream(
      new TlsStream(ssl, SSL_get_rbio(ssl), SSL_get_wbio(ssl), /*server=*/false));

  const std::string host = NormalizeHost(peer.host);
  const bool ip = IsIpLiteral(host);
  // SNI carries host names only (RFC 6066 section 3).
  if (!host.empty() && !ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS server name \"", host, "\": ", DrainOpenSslErrors()));
  }
  if (context.verifies_peer() && !host.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    int ok = 0;
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      // "*.example.com" matches one whole label only (RFC 6125 6.4.3).
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    }
    if (ok != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("TLS peer name \"", host, "\": ", DrainOpenSslErrors()));
    }
  }
  stream->Pump();  // the ClientHello, ready for TakeCiphertext()
  if (stream->failed()) return stream->status();
  return stream;
}

absl::Status TlsStream::Feed(std::string_view ciphertext) {
  if (failed() || ciphertext.empty()) return status_;
  if (BIO_ctrl_pending(in_) + ciphertext.size() > kTlsMaxCiphertextInBytes) {
    Fail(absl::ResourceExhaustedError("TLS input over its bound (plaintext not taken)"));
    return status_;
  }
  const int written = BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
  ETRND_CHECK(written == static_cast<int>(ciphertext.size()));
  Pump();
  return status_;
}

std::string TlsStream::TakePlaintext() {
  std::string taken = std::exchange(plaintext_in_, std::string());
  // Records held back by the plaintext bound can be decrypted now.
  if (!taken.empty() && handshake_done_) Pump();
  return taken;
}

absl::Status TlsStream::Write(std::string_view plaintext) {
  if (failed() || plaintext.empty()) return status_;
  if (shut_down_) return absl::FailedPreconditionError("TLS write after shutdown");
  if (!handshake_done_) {
    if (early_out_.size() + plaintext.size() > kTlsMaxEarlyPlaintextOutBytes) {
      Fail(absl::ResourceExhaustedError("TLS output held for the handshake over its bound"));
    } else {
      early_out_.append(plaintext);
    }
    return status_;
  }
  ERR_clear_error();
  size_t written = 0;
  // A memory BIO takes every record: the write completes in full.
  const int result = SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written);
  if (result != 1) {
    HandleSslError(result, "write");
  } else {
    ETRND_CHECK(written == plaintext.size());
  }
  return status_;
}

std::string TlsStream::TakeCiphertext() {
  const size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return "";
  std::string bytes(pending, '\0');
  const int read = BIO_read(out_, bytes.data(), static_cast<int>(pending));
  ETRND_CHECK(read == static_cast<int>(pending));
  return bytes;
}

void TlsStream::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  early_out_.clear();
  // Mid-handshake or after an error there is no session to close cleanly.
  if (!handshake_done_ || failed()) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // 0: our close_notify is out, the peer's not yet in
  ERR_clear_error();
}

std::string_view TlsStream::version() const {
  return handshake_done_ ? std::string_view(SSL_get_version(ssl_)) : std::string_view();
}

std::string_view TlsStream::cipher() const {
  if (!handshake_done_) return {};
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  return cipher == nullptr ? std::string_view() : std::string_view(SSL_CIPHER_get_name(cipher));
}

size_t TlsStream::buffered_output_bytes() const {
  return early_out_.size() + BIO_ctrl_pending(out_);
}

size_t TlsStream::buffered_input_bytes() const {
  return plaintext_in_.size() + BIO_ctrl_pending(in_);
}

void TlsStream::Pump() {
  if (failed() || shut_down_) return;
  ERR_clear_error();
  if (!handshake_done_) {
    const int result = SSL_do_handshake(ssl_);
    if (result != 1) {
      HandleSslError(result, "handshake");
      return;
    }
    handshake_done_ = true;
    if (!early_out_.empty()) {
      const std::string early = std::exchange(early_out_, std::string());
      if (!Write(early).ok()) return;
    }
  }
  while (!peer_closed_ && plaintext_in_.size() < kTlsMaxPlaintextInBytes) {
    const size_t old_size = plaintext_in_.size();
    const size_t want = std::min(kReadChunkBytes, kTlsMaxPlaintextInBytes - old_size);
    plaintext_in_.resize(old_size + want);
    size_t read = 0;
    const int result = SSL_read_ex(ssl_, plaintext_in_.data() + old_size, want, &read);
    plaintext_in_.resize(old_size + read);
    if (result != 1) {
      HandleSslError(result, "read");
      return;
    }
  }
  ETRND_CHECK(plaintext_in_.size() <= kTlsMaxPlaintextInBytes);
}

void TlsStream::HandleSslError(int result, std::string_view operation) {
  switch (SSL_get_error(ssl_, result)) {
    case SSL_ERROR_WANT_READ:
      return;  // needs more ciphertext
    case SSL_ERROR_ZERO_RETURN:
      peer_closed_ = true;
      if (!handshake_done_) Fail(absl::UnavailableError("TLS peer closed during the handshake"));
      return;
    case SSL_ERROR_SSL: {
      std::string reason = DrainOpenSslErrors();
      if (!server_) {
        const long verify = SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK) {
          absl::StrAppend(&reason, " (", X509_verify_cert_error_string(verify), ")");
        }
      }
      Fail(absl::UnavailableError(absl::StrCat("TLS ", AsAbsl(operation), " failed: ", reason)));
      return;
    }
    default:
      Fail(absl::UnavailableError(
          absl::StrCat("TLS ", AsAbsl(operation), " failed: ", DrainOpenSslErrors())));
      return;
  }
}

void TlsStream::Fail(absl::Status status) {
  ETRND_CHECK(!status.ok());
  if (status_.ok()) status_ = std::move(status);
}

}  // namespace etrnd::transport

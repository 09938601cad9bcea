// The --tls_* flags (SPEC section 3). The files are loaded by
// tls_contexts.cc, at start-up and again on SIGHUP.
#include <string>

#include "absl/flags/flag.h"
#include "etrnd/server/server_options.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate (then its chain) for STARTTLS; with --tls_key, EHLO offers STARTTLS. "
          "Re-read on SIGHUP (a file that fails to load keeps the previous one).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert; re-read on SIGHUP.");
ABSL_FLAG(std::string, tls_ciphers, "",
          "OpenSSL cipher list for inbound TLS 1.2 (TLS 1.3 uses OpenSSL's suites); empty = "
          "OpenSSL's default. TLS 1.2 is the minimum version either way.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CAs that tls=verify next hops are checked against; empty = the system store.");

namespace etrnd::server {

absl::Status TlsOptionsFromFlags(ServerOptions& options) {
  options.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls.ciphers = absl::GetFlag(FLAGS_tls_ciphers);
  options.tls.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!options.tls.ciphers.empty() && options.tls.cert_file.empty()) {
    return absl::InvalidArgumentError("--tls_ciphers needs --tls_cert and --tls_key");
  }
  return absl::OkStatus();
}

}  // namespace etrnd::server

// A throw-away PKI for TLS unit tests, generated with OpenSSL's APIs: a CA
// and a server certificate it signed, as PEM text and as files.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "etrnd/transport/tls_context.h"

namespace etrnd::transport::testing {

struct TestPki {
  std::string ca_cert_pem;
  std::string server_cert_pem;  // signed by the CA
  std::string server_key_pem;
};

// A server certificate for subject_alt_names, OpenSSL's syntax:
// "DNS:mail.example.test,IP:127.0.0.1".
TestPki MakeTestPki(std::string_view common_name, std::string_view subject_alt_names);

// Contexts on the PKI's files: a server with its certificate and key, a
// client trusting its CA. A load failure fails the test (CHECK).
std::shared_ptr<const TlsContext> ServerContext(const TestPki& pki);
std::shared_ptr<const TlsContext> ClientContext(const TestPki& pki, bool verify);

// Writes contents to a new file in the test's temporary folder; returns the path.
std::string WriteTempFile(std::string_view name, std::string_view contents);

}  // namespace etrnd::transport::testing

#include "test_pki.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "etrnd/common/check.h"

namespace etrnd::transport::testing {
namespace {

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  ETRND_CHECK(PEM_write_bio_X509(bio, cert) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  ETRND_CHECK(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ETRND_CHECK(extension != nullptr);
  ETRND_CHECK(X509_add_ext(cert, extension, -1) == 1);
  X509_EXTENSION_free(extension);
}

// issuer == nullptr: self-signed.
X509* NewCertificate(EVP_PKEY* key, std::string_view common_name, long serial, X509* issuer) {
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 30);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer == nullptr ? name : X509_get_subject_name(issuer));
  return cert;
}

}  // namespace

TestPki MakeTestPki(std::string_view common_name, std::string_view subject_alt_names) {
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  EVP_PKEY* server_key = EVP_EC_gen("P-256");
  ETRND_CHECK(ca_key != nullptr && server_key != nullptr);

  X509* ca = NewCertificate(ca_key, "etrnd test CA", 1, nullptr);
  AddExtension(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(ca, ca, NID_subject_key_identifier, "hash");
  ETRND_CHECK(X509_sign(ca, ca_key, EVP_sha256()) > 0);

  X509* server = NewCertificate(server_key, common_name, 2, ca);
  AddExtension(server, ca, NID_basic_constraints, "CA:FALSE");
  AddExtension(server, ca, NID_ext_key_usage, "serverAuth");
  AddExtension(server, ca, NID_subject_alt_name, std::string(subject_alt_names));
  ETRND_CHECK(X509_sign(server, ca_key, EVP_sha256()) > 0);

  TestPki pki{ToPem(ca), ToPem(server), ToPem(server_key)};
  X509_free(server);
  X509_free(ca);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(ca_key);
  return pki;
}

std::string WriteTempFile(std::string_view name, std::string_view contents) {
  static std::atomic<int> counter{0};
  const std::string path = ::testing::TempDir() + "etrnd_tls_" + std::to_string(getpid()) + "_" +
                           std::to_string(counter++) + "_" + std::string(name);
  FILE* file = std::fopen(path.c_str(), "w");
  ETRND_CHECK(file != nullptr);
  ETRND_CHECK(std::fwrite(contents.data(), 1, contents.size(), file) == contents.size());
  ETRND_CHECK(std::fclose(file) == 0);
  return path;
}

std::shared_ptr<const TlsContext> ServerContext(const TestPki& pki) {
  auto context = TlsContext::NewServer({.cert_file = WriteTempFile("cert.pem", pki.server_cert_pem),
                                        .key_file = WriteTempFile("key.pem", pki.server_key_pem)});
  ETRND_CHECK(context.ok());
  return *context;
}

std::shared_ptr<const TlsContext> ClientContext(const TestPki& pki, bool verify) {
  auto context = TlsContext::NewClient(
      {.ca_file = WriteTempFile("ca.pem", pki.ca_cert_pem), .verify = verify});
  ETRND_CHECK(context.ok());
  return *context;
}

}  // namespace etrnd::transport::testing

#include "etrnd/transport/tls_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_pki.h"

namespace etrnd::transport {
namespace {

using ::testing::HasSubstr;
using testing::MakeTestPki;
using testing::WriteTempFile;

TEST(TlsContextTest, LoadsServerCertificateAndKey) {
  const auto pki = MakeTestPki("mail.example.test", "DNS:mail.example.test");
  auto context = TlsContext::NewServer({.cert_file = WriteTempFile("c.pem", pki.server_cert_pem),
                                        .key_file = WriteTempFile("k.pem", pki.server_key_pem)});
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_TRUE((*context)->is_server());
  EXPECT_THAT((*context)->description(), HasSubstr("CN=mail.example.test"));
  EXPECT_THAT((*context)->description(), HasSubstr("serial 02"));
}

TEST(TlsContextTest, MissingCertificateNamesTheFile) {
  const auto pki = MakeTestPki("mail.example.test", "DNS:mail.example.test");
  auto context = TlsContext::NewServer({.cert_file = "/nonexistent/cert.pem",
                                        .key_file = WriteTempFile("k.pem", pki.server_key_pem)});
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(std::string(context.status().message()),
              HasSubstr("certificate file /nonexistent/cert.pem"));
}

TEST(TlsContextTest, GarbageKeyNamesTheFile) {
  const auto pki = MakeTestPki("mail.example.test", "DNS:mail.example.test");
  const std::string key = WriteTempFile("bad.pem", "not a key\n");
  auto context = TlsContext::NewServer(
      {.cert_file = WriteTempFile("c.pem", pki.server_cert_pem), .key_file = key});
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(std::string(context.status().message()), HasSubstr("key file " + key));
}

TEST(TlsContextTest, KeyOfAnotherCertificateIsRefused) {
  const auto pki = MakeTestPki("mail.example.test", "DNS:mail.example.test");
  const auto other = MakeTestPki("other.example.test", "DNS:other.example.test");
  auto context = TlsContext::NewServer({.cert_file = WriteTempFile("c.pem", pki.server_cert_pem),
                                        .key_file = WriteTempFile("k.pem", other.server_key_pem)});
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(std::string(context.status().message()), HasSubstr("key values mismatch"));
}

TEST(TlsContextTest, BadCipherListIsRefused) {
  const auto pki = MakeTestPki("mail.example.test", "DNS:mail.example.test");
  auto context = TlsContext::NewServer({.cert_file = WriteTempFile("c.pem", pki.server_cert_pem),
                                        .key_file = WriteTempFile("k.pem", pki.server_key_pem),
                                        .ciphers = "NO-SUCH-CIPHER"});
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(std::string(context.status().message()), HasSubstr("NO-SUCH-CIPHER"));
}

TEST(TlsContextTest, ClientCaFileErrorsNameTheFile) {
  auto context = TlsContext::NewClient({.ca_file = "/nonexistent/ca.pem", .verify = true});
  ASSERT_FALSE(context.ok());
  EXPECT_THAT(std::string(context.status().message()), HasSubstr("CA file /nonexistent/ca.pem"));
}

TEST(TlsContextTest, ClientWithSystemStore) {
  auto context = TlsContext::NewClient({.verify = true});
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_FALSE((*context)->is_server());
  EXPECT_TRUE((*context)->verifies_peer());
}

}  // namespace
}  // namespace etrnd::transport

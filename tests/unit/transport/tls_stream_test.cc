#include "etrnd/transport/tls_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test_pki.h"

namespace etrnd::transport {
namespace {

using ::testing::HasSubstr;
using testing::MakeTestPki;
using testing::TestPki;
using testing::WriteTempFile;

// Moves ciphertext between the two ends in pieces of odd sizes until both
// are quiet (or one fails).
void Exchange(TlsStream& a, TlsStream& b, size_t piece = 7) {
  for (int round = 0; round < 100; ++round) {
    std::string ab = a.TakeCiphertext();
    std::string ba = b.TakeCiphertext();
    if (ab.empty() && ba.empty()) return;
    for (size_t i = 0; i < ab.size(); i += piece) {
      if (!b.Feed(std::string_view(ab).substr(i, piece)).ok()) return;
    }
    for (size_t i = 0; i < ba.size(); i += piece + 6) {
      if (!a.Feed(std::string_view(ba).substr(i, piece + 6)).ok()) return;
    }
  }
  FAIL() << "the TLS exchange did not settle";
}

std::string TakeAll(TlsStream& stream) {
  std::string all;
  for (std::string part; !(part = stream.TakePlaintext()).empty();) all += part;
  return all;
}

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki(MakeTestPki("mail.example.test", "DNS:mail.example.test,IP:192.0.2.7"));
    server_context_ = new std::shared_ptr<const TlsContext>(testing::ServerContext(*pki_));
    ca_file_ = new std::string(WriteTempFile("ca.pem", pki_->ca_cert_pem));
  }

  std::shared_ptr<const TlsContext> Client(bool verify) {
    auto client = TlsContext::NewClient({.ca_file = *ca_file_, .verify = verify});
    EXPECT_TRUE(client.ok()) << client.status();
    return *client;
  }

  std::unique_ptr<TlsStream> NewServer() {
    auto stream = TlsStream::NewServer(**server_context_);
    EXPECT_TRUE(stream.ok()) << stream.status();
    return std::move(*stream);
  }

  std::unique_ptr<TlsStream> NewClient(const TlsContext& context, std::string host) {
    auto stream = TlsStream::NewClient(context, {.host = std::move(host)});
    EXPECT_TRUE(stream.ok()) << stream.status();
    return std::move(*stream);
  }

  static TestPki* pki_;
  static std::shared_ptr<const TlsContext>* server_context_;
  static std::string* ca_file_;
};

TestPki* TlsStreamTest::pki_ = nullptr;
std::shared_ptr<const TlsContext>* TlsStreamTest::server_context_ = nullptr;
std::string* TlsStreamTest::ca_file_ = nullptr;

TEST_F(TlsStreamTest, HandshakeAndDataBothWaysInOddPieces) {
  auto context = Client(/*verify=*/true);
  auto client = NewClient(*context, "mail.example.test");
  auto server = NewServer();
  EXPECT_FALSE(client->handshake_done());
  // Written before the handshake: held, then sent once it completes.
  ASSERT_TRUE(client->Write("EHLO client.example\r\n").ok());
  Exchange(*client, *server);
  ASSERT_TRUE(client->status().ok()) << client->status();
  ASSERT_TRUE(server->status().ok()) << server->status();
  EXPECT_TRUE(client->handshake_done());
  EXPECT_TRUE(server->handshake_done());
  EXPECT_EQ(server->version(), "TLSv1.3");
  EXPECT_EQ(client->version(), "TLSv1.3");
  EXPECT_FALSE(server->cipher().empty());
  EXPECT_EQ(server->cipher(), client->cipher());
  EXPECT_EQ(TakeAll(*server), "EHLO client.example\r\n");

  std::string big(200 * 1024, 'x');  // several records, over the plaintext bound
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(server->Write(big).ok());
  std::string received;
  // The client takes in odd pieces; decryption pauses at its bound.
  std::string wire = server->TakeCiphertext();
  for (size_t i = 0; i < wire.size(); i += 1021) {
    ASSERT_TRUE(client->Feed(std::string_view(wire).substr(i, 1021)).ok()) << client->status();
    EXPECT_LE(client->buffered_input_bytes(), kTlsMaxPlaintextInBytes + kTlsMaxCiphertextInBytes);
    received += TakeAll(*client);
  }
  EXPECT_EQ(received, big);

  ASSERT_TRUE(client->Write("QUIT\r\n").ok());
  Exchange(*client, *server, 1);
  EXPECT_EQ(TakeAll(*server), "QUIT\r\n");
}

TEST_F(TlsStreamTest, CloseNotifyReachesThePeer) {
  auto context = Client(/*verify=*/false);
  auto client = NewClient(*context, "mail.example.test");
  auto server = NewServer();
  Exchange(*client, *server);
  ASSERT_TRUE(server->handshake_done());
  server->Shutdown();
  EXPECT_FALSE(server->Write("late").ok());
  Exchange(*client, *server);
  EXPECT_TRUE(client->peer_closed());
  EXPECT_TRUE(client->status().ok()) << client->status();
}

TEST_F(TlsStreamTest, VerifiesAnIpLiteralAgainstAnIpSan) {
  auto context = Client(/*verify=*/true);
  auto client = NewClient(*context, "[192.0.2.7]");
  auto server = NewServer();
  Exchange(*client, *server);
  EXPECT_TRUE(client->handshake_done()) << client->status();
}

TEST_F(TlsStreamTest, NameMismatchFailsVerification) {
  auto context = Client(/*verify=*/true);
  auto client = NewClient(*context, "other.example.test");
  auto server = NewServer();
  Exchange(*client, *server);
  EXPECT_FALSE(client->handshake_done());
  ASSERT_TRUE(client->failed());
  EXPECT_THAT(std::string(client->status().message()), HasSubstr("certificate verify failed"));
  EXPECT_THAT(std::string(client->status().message()), HasSubstr("hostname mismatch"));
  // The alert reaches the server, which fails too.
  Exchange(*client, *server);
  EXPECT_FALSE(server->handshake_done());
}

TEST_F(TlsStreamTest, IpMismatchFailsVerification) {
  auto context = Client(/*verify=*/true);
  auto client = NewClient(*context, "192.0.2.8");
  auto server = NewServer();
  Exchange(*client, *server);
  ASSERT_TRUE(client->failed());
  EXPECT_THAT(std::string(client->status().message()), HasSubstr("IP address mismatch"));
}

TEST_F(TlsStreamTest, UnknownCaFailsVerification) {
  const TestPki other = MakeTestPki("x", "DNS:x");
  auto context = TlsContext::NewClient(
      {.ca_file = WriteTempFile("other-ca.pem", other.ca_cert_pem), .verify = true});
  ASSERT_TRUE(context.ok());
  auto client = NewClient(**context, "mail.example.test");
  auto server = NewServer();
  Exchange(*client, *server);
  ASSERT_TRUE(client->failed());
  EXPECT_THAT(std::string(client->status().message()), HasSubstr("certificate verify failed"));
}

TEST_F(TlsStreamTest, WithoutVerificationAnyNameIsAccepted) {
  auto context = Client(/*verify=*/false);
  auto client = NewClient(*context, "other.example.test");
  auto server = NewServer();
  Exchange(*client, *server);
  EXPECT_TRUE(client->handshake_done()) << client->status();
}

TEST_F(TlsStreamTest, GarbageInputIsAnError) {
  auto server = NewServer();
  const absl::Status status = server->Feed("EHLO plain.text.client\r\n");
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(server->failed());
  EXPECT_FALSE(server->handshake_done());
  // Further input changes nothing.
  EXPECT_FALSE(server->Feed("more").ok());
}

TEST_F(TlsStreamTest, GarbageAfterTheHandshakeIsAnError) {
  auto context = Client(/*verify=*/false);
  auto client = NewClient(*context, "mail.example.test");
  auto server = NewServer();
  Exchange(*client, *server);
  ASSERT_TRUE(server->handshake_done());
  // A record header claiming application data with a bogus body.
  EXPECT_FALSE(server->Feed(std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'z')).ok());
  EXPECT_THAT(std::string(server->status().message()), HasSubstr("TLS read failed"));
}

TEST_F(TlsStreamTest, InputOverItsBoundIsAnError) {
  auto server = NewServer();
  // A record header announcing a long record, then more than the bound.
  std::string chunk = std::string("\x16\x03\x01\x40\x00", 5);
  chunk += std::string(kTlsMaxCiphertextInBytes, 'a');
  EXPECT_FALSE(server->Feed(chunk).ok());
}

}  // namespace
}  // namespace etrnd::transport

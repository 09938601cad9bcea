#include "etrnd/transport/tls_pump.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test_pki.h"

namespace etrnd::transport {
namespace {

using testing::ClientContext;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeTestPki;
using testing::ServerContext;
using testing::TestPki;

// Writes down what a pump reported, one string an event.
class Recorder : public TlsPumpListener {
 public:
  void OnTlsStarted() override { events.push_back("started"); }
  void OnPlaintext(std::string_view bytes) override { plaintext.append(bytes); }
  void OnTlsFailed(std::string_view why) override {
    events.push_back("failed: " + std::string(why));
  }
  void OnTlsEnded(std::string_view why) override { events.push_back("ended: " + std::string(why)); }

  std::vector<std::string> events;
  std::string plaintext;
};

// One end of a connection: a pump whose sends land in `wire`.
struct End {
  End() : pump([this](std::string bytes) { wire += bytes; }) {}
  std::string wire;  // sent, not yet received by the other end
  Recorder heard;
  TlsPump pump;
};

// Moves the bytes each end sent to the other, in odd pieces, until quiet.
void Exchange(End& a, End& b, size_t piece = 7) {
  for (int round = 0; round < 100; ++round) {
    std::string ab = std::exchange(a.wire, "");
    std::string ba = std::exchange(b.wire, "");
    if (ab.empty() && ba.empty()) return;
    for (size_t i = 0; i < ab.size(); i += piece) {
      b.pump.Receive(std::string_view(ab).substr(i, piece), b.heard);
    }
    for (size_t i = 0; i < ba.size(); i += piece + 6) {
      a.pump.Receive(std::string_view(ba).substr(i, piece + 6), a.heard);
    }
  }
  FAIL() << "the exchange did not settle";
}

class TlsPumpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki(MakeTestPki("mail.example.test", "DNS:mail.example.test"));
    server_context_ = new std::shared_ptr<const TlsContext>(ServerContext(*pki_));
    client_context_ = new std::shared_ptr<const TlsContext>(ClientContext(*pki_, /*verify=*/true));
  }

  // Both ends switch to TLS, as after "STARTTLS" / "220".
  void Start(std::string host = "mail.example.test") {
    ASSERT_TRUE(server_.pump.StartServer(**server_context_).ok());
    ASSERT_TRUE(client_.pump.StartClient(**client_context_, {.host = std::move(host)}).ok());
  }

  static TestPki* pki_;
  static std::shared_ptr<const TlsContext>* server_context_;
  static std::shared_ptr<const TlsContext>* client_context_;
  End client_;
  End server_;
};

TestPki* TlsPumpTest::pki_ = nullptr;
std::shared_ptr<const TlsContext>* TlsPumpTest::server_context_ = nullptr;
std::shared_ptr<const TlsContext>* TlsPumpTest::client_context_ = nullptr;

TEST_F(TlsPumpTest, InClearBytesPassAsTheyAre) {
  client_.pump.Send("EHLO client.example\r\n");
  client_.pump.Send("");  // nothing to send: no empty write either
  client_.pump.SendOwned("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(client_.wire, "EHLO client.example\r\nMAIL FROM:<a@b.test>\r\n");
  client_.pump.Receive("250 ok\r\n", client_.heard);
  EXPECT_EQ(client_.heard.plaintext, "250 ok\r\n");
  client_.pump.Shutdown();  // no TLS: nothing to say
  EXPECT_EQ(client_.wire, "EHLO client.example\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_FALSE(client_.pump.tls());
  EXPECT_FALSE(client_.pump.failed());
  EXPECT_EQ(client_.pump.stream(), nullptr);
  EXPECT_TRUE(client_.heard.events.empty());
}

TEST_F(TlsPumpTest, ClientHelloGoesOutAtStart) {
  Start();
  EXPECT_FALSE(client_.wire.empty());
  EXPECT_TRUE(server_.wire.empty());  // a server waits for the ClientHello
  EXPECT_TRUE(client_.pump.tls());
  EXPECT_FALSE(client_.pump.established());
}

TEST_F(TlsPumpTest, HandshakeThenPlaintextBothWays) {
  Start();
  // Written before the handshake: held, and sent once it completes.
  client_.pump.Send("EHLO client.example\r\n");
  Exchange(client_, server_);
  EXPECT_THAT(client_.heard.events, ElementsAre("started"));
  EXPECT_THAT(server_.heard.events, ElementsAre("started"));
  EXPECT_TRUE(client_.pump.established());
  EXPECT_TRUE(server_.pump.established());
  EXPECT_EQ(server_.heard.plaintext, "EHLO client.example\r\n");
  EXPECT_EQ(client_.pump.stream()->version(), "TLSv1.3");

  std::string big(200 * 1024, 'x');  // over the plaintext bound: taken in pieces
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  server_.pump.Send(big);
  EXPECT_EQ(server_.wire.find("abcdefghij"), std::string::npos);  // encrypted
  Exchange(client_, server_, 1021);
  EXPECT_EQ(client_.heard.plaintext, big);
  EXPECT_THAT(client_.heard.events, ElementsAre("started"));  // once
  EXPECT_FALSE(client_.pump.failed());
}

TEST_F(TlsPumpTest, ShutdownEndsThePeersStream) {
  Start();
  Exchange(client_, server_);
  server_.pump.Send("221 bye\r\n");
  server_.pump.Shutdown();
  Exchange(client_, server_);
  // The reply comes before the end, and nothing comes after it.
  EXPECT_EQ(client_.heard.plaintext, "221 bye\r\n");
  EXPECT_THAT(client_.heard.events, ElementsAre("started", "ended: "));  // no error
  client_.pump.Receive("more", client_.heard);
  EXPECT_EQ(client_.heard.events.size(), 2u);
}

TEST_F(TlsPumpTest, FailedVerificationIsAHandshakeFailureWithItsAlertSent) {
  Start("other.example.test");
  Exchange(client_, server_);
  ASSERT_EQ(client_.heard.events.size(), 1u);
  EXPECT_THAT(client_.heard.events[0], HasSubstr("failed: "));
  EXPECT_THAT(client_.heard.events[0], HasSubstr("hostname mismatch"));
  EXPECT_TRUE(client_.pump.failed());
  EXPECT_FALSE(client_.pump.established());
  // The client's alert reached the server, which failed its handshake too.
  ASSERT_EQ(server_.heard.events.size(), 1u);
  EXPECT_THAT(server_.heard.events[0], HasSubstr("failed: "));
  EXPECT_TRUE(server_.heard.plaintext.empty());
}

TEST_F(TlsPumpTest, GarbageAfterTheHandshakeEndsTheStreamOnce) {
  Start();
  Exchange(client_, server_);
  // A record header claiming application data with a bogus body.
  const std::string garbage = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'z');
  server_.pump.Receive(garbage, server_.heard);
  EXPECT_THAT(server_.heard.events, ElementsAre("started", HasSubstr("ended: TLS read failed")));
  EXPECT_TRUE(server_.pump.failed());
  server_.pump.Receive(garbage, server_.heard);  // reported once
  EXPECT_EQ(server_.heard.events.size(), 2u);
}

TEST_F(TlsPumpTest, ClearTextToATlsServerIsAHandshakeFailure) {
  ASSERT_TRUE(server_.pump.StartServer(**server_context_).ok());
  server_.pump.Receive("EHLO plain.text.client\r\n", server_.heard);
  ASSERT_EQ(server_.heard.events.size(), 1u);
  EXPECT_THAT(server_.heard.events[0], HasSubstr("failed: "));
  EXPECT_TRUE(server_.heard.plaintext.empty());
}

}  // namespace
}  // namespace etrnd::transport

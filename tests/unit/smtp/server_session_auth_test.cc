// SMTP AUTH in the server session (RFC 4954, SPEC 5): what EHLO offers, the
// dialogue's replies, the asynchronous verdict and what it changes.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "etrnd/smtp/server_session.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

class AuthServices : public SessionServices {
 public:
  RecipientVerdict CheckRecipient(std::string_view) override { return RecipientVerdict::kAccept; }
  std::string NewQueueId() override { return "Q1"; }
  void StoreMessage(AcceptedMessage message) override { stored.push_back(std::move(message)); }
  void StartEtrn(std::string_view) override {}
  AuthOffer AuthOffered() override { return offer; }
  bool AuthLockedOut() override { return locked_out; }
  void VerifyCredentials(auth::SaslCredentials credentials) override {
    verified.push_back(std::move(credentials));
  }
  absl::Time Now() override { return absl::FromUnixSeconds(1764648451); }

  AuthOffer offer{.offered = true};
  bool locked_out = false;
  std::vector<auth::SaslCredentials> verified;
  std::vector<AcceptedMessage> stored;
};

std::string B64(std::string_view raw) {
  return absl::Base64Escape(absl::string_view(raw.data(), raw.size()));
}

std::string PlainLine(std::string_view user, std::string_view password) {
  std::string raw;
  raw.push_back('\0');
  raw.append(user);
  raw.push_back('\0');
  raw.append(password);
  return "AUTH PLAIN " + B64(raw) + "\r\n";
}

class ServerSessionAuthTest : public ::testing::Test {
 protected:
  void Start() {
    config_.hostname = "mx.test";
    session_ = std::make_unique<ServerSession>(
        config_, services_, SocketAddress(IpAddress::Parse("127.0.0.1").value(), 40000));
    session_->Start();
    session_->TakeOutput();
  }
  std::string Send(std::string_view bytes) {
    session_->OnBytes(bytes);
    return session_->TakeOutput();
  }
  void Ehlo() { ASSERT_FALSE(Send("EHLO client.test\r\n").empty()); }

  SessionConfig config_;
  AuthServices services_;
  std::unique_ptr<ServerSession> session_;
};

TEST_F(ServerSessionAuthTest, EhloAdvertisesAuthOnlyWhenOffered) {
  Start();
  EXPECT_NE(Send("EHLO a.test\r\n").find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos);
  services_.offer.cram_md5 = true;
  EXPECT_NE(Send("EHLO a.test\r\n").find("250-AUTH PLAIN LOGIN CRAM-MD5\r\n"), std::string::npos);
  services_.offer = {};
  EXPECT_EQ(Send("EHLO a.test\r\n").find("AUTH"), std::string::npos);
}

TEST_F(ServerSessionAuthTest, PlainSucceedsAfterTheVerdictAndKeepsPipelinedOrder) {
  Start();
  Ehlo();
  // The NOOP behind AUTH waits for the verdict: replies stay in order.
  EXPECT_EQ(Send(PlainLine("alice", "s3cret") + "NOOP\r\n"), "");
  ASSERT_EQ(services_.verified.size(), 1u);
  EXPECT_EQ(services_.verified[0].user, "alice");
  EXPECT_EQ(services_.verified[0].password, "s3cret");
  EXPECT_TRUE(session_->waiting());
  session_->OnAuthResult(AuthVerdict::kValid);
  EXPECT_EQ(session_->TakeOutput(), "235 2.7.0 Authentication successful\r\n250 2.0.0 Ok\r\n");
  EXPECT_EQ(session_->authenticated_user(), "alice");
  // A second AUTH is refused; so is the password nowhere in the message.
  EXPECT_TRUE(Send(PlainLine("alice", "s3cret")).starts_with("503 5.5.1"));
  Send("MAIL FROM:<a@client.test> AUTH=<>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  Send("Subject: x\r\n\r\nbody\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_NE(services_.stored[0].data.find("with ESMTPA id Q1"), std::string::npos);
  EXPECT_EQ(services_.stored[0].data.find("s3cret"), std::string::npos);
}

TEST_F(ServerSessionAuthTest, InvalidCredentialsAre535AndMayBeRetried) {
  Start();
  Ehlo();
  Send(PlainLine("alice", "wrong"));
  session_->OnAuthResult(AuthVerdict::kInvalid);
  EXPECT_EQ(session_->TakeOutput(), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(session_->authenticated_user(), "");
  EXPECT_EQ(session_->error_count(), 1);
  Send(PlainLine("alice", "s3cret"));
  session_->OnAuthResult(AuthVerdict::kTemporaryFailure);
  EXPECT_EQ(session_->TakeOutput(), "454 4.7.0 Temporary authentication failure\r\n");
  Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  Send("\r\nbody\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_NE(services_.stored[0].data.find("with ESMTP id"), std::string::npos);
}

TEST_F(ServerSessionAuthTest, LoginDialogueAndCancel) {
  Start();
  Ehlo();
  EXPECT_EQ(Send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
  // Lines inside the dialogue are not commands.
  EXPECT_EQ(Send(B64("QUIT") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_FALSE(session_->close_requested());
  EXPECT_EQ(Send("*\r\n"), "501 5.7.0 Authentication aborted\r\n");
  EXPECT_TRUE(services_.verified.empty());
  EXPECT_EQ(Send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(Send("not base64!\r\n"), "501 5.5.2 Cannot decode response\r\n");
  EXPECT_EQ(Send("AUTH LOGIN " + B64("bob") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(Send(B64("pw") + "\r\n"), "");
  ASSERT_EQ(services_.verified.size(), 1u);
  EXPECT_EQ(services_.verified[0].user, "bob");
  session_->OnAuthResult(AuthVerdict::kValid);
  EXPECT_EQ(session_->TakeOutput(), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

TEST_F(ServerSessionAuthTest, Preconditions) {
  Start();
  EXPECT_EQ(Send(PlainLine("a", "b")), "503 5.5.1 Error: send HELO/EHLO first\r\n");
  Ehlo();
  Send("MAIL FROM:<a@client.test>\r\n");
  EXPECT_EQ(Send(PlainLine("a", "b")), "503 5.5.1 Error: MAIL transaction in progress\r\n");
  Send("RSET\r\n");
  EXPECT_EQ(Send("AUTH DIGEST-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(Send("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  services_.locked_out = true;
  EXPECT_EQ(Send(PlainLine("a", "b")), "454 4.7.0 Too many authentication failures\r\n");
  services_.offer = {};
  EXPECT_EQ(Send(PlainLine("a", "b")), "503 5.5.1 Error: authentication not enabled\r\n");
  EXPECT_EQ(Send("MAIL FROM:<a@client.test> AUTH=<>\r\n"),
            "555 5.5.4 Unsupported option: AUTH\r\n");
  EXPECT_TRUE(services_.verified.empty());
}

TEST_F(ServerSessionAuthTest, CramMd5ChallengeAndResponse) {
  Start();
  services_.offer.cram_md5 = true;
  Ehlo();
  const std::string challenge_line = Send("AUTH CRAM-MD5\r\n");
  ASSERT_TRUE(challenge_line.starts_with("334 "));
  std::string challenge;
  ASSERT_TRUE(absl::Base64Unescape(
      absl::string_view(challenge_line).substr(4, challenge_line.size() - 6), &challenge));
  EXPECT_TRUE(challenge.ends_with("@mx.test>"));
  Send(B64("bob 0123456789abcdef0123456789abcdef") + "\r\n");
  ASSERT_EQ(services_.verified.size(), 1u);
  EXPECT_EQ(services_.verified[0].challenge, challenge);
  EXPECT_EQ(services_.verified[0].digest, "0123456789abcdef0123456789abcdef");
}

TEST_F(ServerSessionAuthTest, OverlongDialogueLineIs500) {
  Start();
  Ehlo();
  Send("AUTH PLAIN\r\n");
  EXPECT_EQ(Send(std::string(600, 'A') + "\r\n"),
            "500 5.5.6 Authentication Exchange line is too long\r\n");
  EXPECT_EQ(Send("NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

// RFC 3207 section 4.2: STARTTLS discards what AUTH established.
TEST_F(ServerSessionAuthTest, StarttlsForgetsTheAuthenticatedUser) {
  config_.starttls = true;
  Start();
  Ehlo();
  Send(PlainLine("alice", "s3cret"));
  session_->OnAuthResult(AuthVerdict::kValid);
  ASSERT_EQ(session_->authenticated_user(), "alice");
  session_->TakeOutput();
  ASSERT_EQ(Send("STARTTLS\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  session_->OnTlsStarted("TLSv1.3", "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(session_->authenticated_user(), "");
  Ehlo();
  Send(PlainLine("alice", "s3cret"));
  ASSERT_EQ(services_.verified.size(), 2u);
  session_->OnAuthResult(AuthVerdict::kValid);
  EXPECT_EQ(session_->TakeOutput(), "235 2.7.0 Authentication successful\r\n");
  Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
  Send("\r\nbody\r\n.\r\n");
  ASSERT_EQ(services_.stored.size(), 1u);
  EXPECT_NE(services_.stored[0].data.find("with ESMTPSA id Q1"), std::string::npos);
}

}  // namespace
}  // namespace etrnd::smtp

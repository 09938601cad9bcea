#include "etrnd/smtp/odmr_session.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

class OdmrSessionTest : public ::testing::Test {
 protected:
  OdmrSessionTest() : session_(OdmrConfig{.hostname = "mx.test"}) {
    session_.Start();
    EXPECT_EQ(session_.TakeOutput(), "220 mx.test ESMTP etrnd ODMR\r\n");
  }

  std::string Say(std::string_view bytes) {
    session_.OnBytes(bytes);
    return session_.TakeOutput();
  }

  void LogIn() {
    Say("EHLO customer\r\n");
    EXPECT_EQ(Say("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "");
    auto request = session_.TakeRequest();
    ASSERT_TRUE(request.has_value());
    EXPECT_EQ(request->kind, OdmrRequest::Kind::kAuth);
    EXPECT_EQ(request->argument, "PLAIN AGFsaWNlAHNlY3JldA==");
    session_.AuthSucceeded("alice");
    EXPECT_EQ(session_.TakeOutput(), "235 2.7.0 Authentication successful\r\n");
  }

  OdmrSession session_;
};

TEST_F(OdmrSessionTest, EhloAdvertisesAuthAndAtrn) {
  EXPECT_EQ(Say("EHLO customer.example\r\n"),
            "250-mx.test\r\n250-AUTH CRAM-MD5 PLAIN LOGIN\r\n250-ATRN\r\n"
            "250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(Say("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
}

TEST_F(OdmrSessionTest, StartTlsIsAdvertisedOnlyWhenConfigured) {
  OdmrSession tls(OdmrConfig{.hostname = "mx.test", .starttls = true});
  tls.Start();
  tls.TakeOutput();
  tls.OnBytes("EHLO c\r\n");
  EXPECT_NE(tls.TakeOutput().find("250-STARTTLS\r\n"), std::string::npos);
  tls.OnBytes("STARTTLS\r\nEHLO smuggled\r\n");
  EXPECT_EQ(tls.TakeOutput(), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(tls.TakeRequest()->kind, OdmrRequest::Kind::kStartTls);
  tls.StartTlsDone("PLAIN LOGIN");
  EXPECT_EQ(tls.TakeOutput(), "");  // the pipelined EHLO was dropped
  tls.OnBytes("ATRN\r\nEHLO c\r\n");
  EXPECT_EQ(tls.TakeOutput(),
            "530 5.7.0 Authentication required\r\n"
            "250-mx.test\r\n250-AUTH PLAIN LOGIN\r\n250-ATRN\r\n250 ENHANCEDSTATUSCODES\r\n");
  EXPECT_EQ(Say("STARTTLS\r\n"), "502 5.5.1 Error: command not implemented\r\n");
}

TEST_F(OdmrSessionTest, NoAuthOfferedWithoutMechanisms) {
  OdmrSession bare(OdmrConfig{.hostname = "mx.test", .auth_mechanisms = ""});
  bare.Start();
  bare.TakeOutput();
  bare.OnBytes("EHLO c\r\nAUTH PLAIN x\r\nATRN\r\n");
  EXPECT_EQ(bare.TakeOutput(),
            "250-mx.test\r\n250-ATRN\r\n250 ENHANCEDSTATUSCODES\r\n"
            "503 5.5.1 Error: authentication not enabled\r\n"
            "530 5.7.0 Authentication required\r\n");
}

TEST_F(OdmrSessionTest, AtrnBeforeAuthIs530EvenWithABadArgument) {
  EXPECT_EQ(Say("ATRN\r\n"), "530 5.7.0 Authentication required\r\n");
  Say("EHLO c\r\n");
  EXPECT_EQ(Say("ATRN not the user's,,\r\n"), "530 5.7.0 Authentication required\r\n");
  EXPECT_FALSE(session_.TakeRequest().has_value());
}

TEST_F(OdmrSessionTest, OtherCommandsAre502) {
  for (const char* line : {"MAIL FROM:<a@b.example>\r\n", "RCPT TO:<a@b.example>\r\n", "DATA\r\n",
                           "HELO c\r\n", "NOOP\r\n", "ETRN b.example\r\n", "X\r\n"}) {
    EXPECT_EQ(Say(line), "502 5.5.1 Error: command not implemented\r\n") << line;
  }
  LogIn();
  EXPECT_EQ(Say("MAIL FROM:<a@b.example>\r\n"), "502 5.5.1 Error: command not implemented\r\n");
}

TEST_F(OdmrSessionTest, AuthNeedsEhloAndHappensOnce) {
  EXPECT_EQ(Say("AUTH PLAIN\r\n"), "503 5.5.1 Error: send EHLO first\r\n");
  Say("EHLO c\r\n");
  EXPECT_EQ(Say("AUTH\r\n"), "501 5.5.4 Syntax: AUTH mechanism\r\n");
  LogIn();
  EXPECT_EQ(Say("AUTH PLAIN\r\n"), "503 5.5.1 Error: already authenticated\r\n");
  EXPECT_EQ(session_.user(), "alice");
}

TEST_F(OdmrSessionTest, AuthChallengeResponseAndFailure) {
  Say("EHLO c\r\n");
  Say("AUTH CRAM-MD5\r\n");
  EXPECT_EQ(session_.TakeRequest()->kind, OdmrRequest::Kind::kAuth);
  session_.AuthContinue("334 PDEyMzQ1QG14LnRlc3Q+");
  EXPECT_EQ(session_.TakeOutput(), "334 PDEyMzQ1QG14LnRlc3Q+\r\n");
  // The response is not a command, whatever it looks like.
  EXPECT_EQ(Say("QUIT\r\n"), "");
  auto response = session_.TakeRequest();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->kind, OdmrRequest::Kind::kAuthResponse);
  EXPECT_EQ(response->argument, "QUIT");
  session_.AuthFailed("535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(session_.TakeOutput(), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_FALSE(session_.authenticated());
  EXPECT_EQ(Say("ATRN\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST_F(OdmrSessionTest, OverlongLineEndsTheAuthExchange) {
  Say("EHLO c\r\nAUTH LOGIN\r\n");
  session_.TakeRequest();
  session_.AuthContinue("334 VXNlcm5hbWU6");
  session_.TakeOutput();
  EXPECT_EQ(Say(std::string(600, 'x') + "\r\n"),
            "500 5.5.6 Authentication Exchange line is too long\r\n");
  EXPECT_FALSE(session_.TakeRequest().has_value());
  EXPECT_EQ(Say("ATRN\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST_F(OdmrSessionTest, CommandsWaitWhileARequestIsOpen) {
  Say("EHLO c\r\n");
  // Pipelined: the ATRN is read only once AUTH is answered.
  EXPECT_EQ(Say("AUTH PLAIN x\r\nATRN a.example\r\n"), "");
  EXPECT_TRUE(session_.waiting());
  EXPECT_EQ(session_.TakeRequest()->kind, OdmrRequest::Kind::kAuth);
  EXPECT_FALSE(session_.TakeRequest().has_value());
  session_.AuthSucceeded("alice");
  EXPECT_EQ(session_.TakeOutput(), "235 2.7.0 Authentication successful\r\n");
  auto atrn = session_.TakeRequest();
  ASSERT_TRUE(atrn.has_value());
  EXPECT_EQ(atrn->kind, OdmrRequest::Kind::kAtrn);
  EXPECT_EQ(atrn->argument, "a.example");
}

TEST_F(OdmrSessionTest, AtrnRefusalsKeepTheSessionAndThe250Reverses) {
  LogIn();
  Say("ATRN b.example\r\n");
  EXPECT_EQ(session_.TakeRequest()->argument, "b.example");
  session_.AtrnAnswered("450 4.7.1 ATRN request refused", false);
  EXPECT_EQ(session_.TakeOutput(), "450 4.7.1 ATRN request refused\r\n");
  Say("ATRN\r\n");
  EXPECT_EQ(session_.TakeRequest()->argument, "");
  session_.AtrnAnswered("453 4.3.0 You have no mail", false);
  EXPECT_EQ(session_.TakeOutput(), "453 4.3.0 You have no mail\r\n");
  EXPECT_FALSE(session_.reversing());
  Say("ATRN a.example\r\n220 early greeting\r\n");
  session_.TakeRequest();
  session_.AtrnAnswered("250 2.0.0 OK now reversing the connection", true);
  EXPECT_EQ(session_.TakeOutput(), "250 2.0.0 OK now reversing the connection\r\n");
  EXPECT_TRUE(session_.reversing());
  EXPECT_FALSE(session_.close_requested());
  EXPECT_EQ(Say("QUIT\r\n"), "");  // the turn's bytes are not commands
}

TEST_F(OdmrSessionTest, QuitAndBadInput) {
  EXPECT_EQ(Say("EHLO c\x01\r\n"), "500 5.5.2 Error: bad syntax\r\n");
  EXPECT_EQ(Say(std::string(600, 'A') + "\r\n"), "500 5.5.2 Error: line too long\r\n");
  EXPECT_EQ(Say("quit\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_TRUE(session_.close_requested());
}

TEST_F(OdmrSessionTest, TooManyErrorsClose) {
  std::string out;
  for (int i = 0; i < 20; ++i) out += Say("NOOP\r\n");
  EXPECT_NE(out.find("421 4.7.0 mx.test Error: too many errors\r\n"), std::string::npos);
  EXPECT_TRUE(session_.close_requested());
}

TEST_F(OdmrSessionTest, HeldInputIsBounded) {
  Say("EHLO c\r\nAUTH PLAIN x\r\n");
  EXPECT_TRUE(session_.waiting());
  EXPECT_EQ(Say(std::string(kOdmrHeldInputMax + 1, 'N')),
            "421 4.7.0 mx.test Error: too much pipelined input\r\n");
  EXPECT_TRUE(session_.close_requested());
  // A late answer from the glue is ignored.
  session_.AuthSucceeded("alice");
  EXPECT_EQ(session_.TakeOutput(), "");
  EXPECT_FALSE(session_.authenticated());
}

}  // namespace
}  // namespace etrnd::smtp

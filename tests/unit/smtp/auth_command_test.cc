#include "etrnd/smtp/auth_command.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace etrnd::smtp {
namespace {

using Action = AuthDialogue::Action;

std::string B64(std::string_view raw) {
  return absl::Base64Escape(absl::string_view(raw.data(), raw.size()));
}

AuthPreconditions Offered(bool cram_md5 = false) {
  return AuthPreconditions{.offer = {.offered = true, .cram_md5 = cram_md5}};
}

TEST(AuthCommandTest, EhloKeyword) {
  EXPECT_EQ(AuthEhloKeyword({.offered = true}), "AUTH PLAIN LOGIN");
  EXPECT_EQ(AuthEhloKeyword({.offered = true, .cram_md5 = true}), "AUTH PLAIN LOGIN CRAM-MD5");
}

TEST(AuthCommandTest, PlainInitialResponseGoesStraightToVerify) {
  AuthDialogue dialogue("mx.example");
  auto step = dialogue.Start("PLAIN " + B64(std::string("\0alice\0pw", 9)), Offered());
  ASSERT_EQ(step.action, Action::kVerify);
  EXPECT_TRUE(dialogue.verifying());
  auth::SaslCredentials credentials = dialogue.TakeCredentials();
  EXPECT_EQ(credentials.user, "alice");
  EXPECT_EQ(credentials.password, "pw");
  step = dialogue.OnVerdict(AuthVerdict::kValid);
  EXPECT_EQ(step.action, Action::kFinished);
  EXPECT_EQ(step.reply, "235 2.7.0 Authentication successful");
  EXPECT_EQ(dialogue.user(), "alice");
  EXPECT_EQ(dialogue.mechanism_name(), "PLAIN");
}

TEST(AuthCommandTest, LoginDialogue) {
  AuthDialogue dialogue("mx.example");
  auto step = dialogue.Start("login", Offered());
  ASSERT_EQ(step.action, Action::kReply);
  EXPECT_EQ(step.reply, "334 VXNlcm5hbWU6");
  EXPECT_TRUE(dialogue.active());
  step = dialogue.OnLine(B64("alice"));
  EXPECT_EQ(step.reply, "334 UGFzc3dvcmQ6");
  step = dialogue.OnLine(B64("wrong"));
  ASSERT_EQ(step.action, Action::kVerify);
  dialogue.TakeCredentials();
  step = dialogue.OnVerdict(AuthVerdict::kInvalid);
  EXPECT_EQ(step.reply, "535 5.7.8 Authentication credentials invalid");
  EXPECT_FALSE(dialogue.active());
  EXPECT_FALSE(dialogue.verifying());
}

TEST(AuthCommandTest, PlainEmptyChallengeIsBare334) {
  AuthDialogue dialogue("mx.example");
  auto step = dialogue.Start("PLAIN", Offered());
  EXPECT_EQ(step.reply, "334 ");
}

TEST(AuthCommandTest, CramMd5OnlyWhenOffered) {
  AuthDialogue dialogue("mx.example");
  EXPECT_EQ(dialogue.Start("CRAM-MD5", Offered(false)).reply,
            "504 5.5.4 Unrecognized authentication type");
  auto step = dialogue.Start("CRAM-MD5", Offered(true));
  ASSERT_EQ(step.action, Action::kReply);
  std::string challenge;
  ASSERT_TRUE(absl::Base64Unescape(absl::string_view(step.reply).substr(4), &challenge));
  EXPECT_TRUE(challenge.starts_with("<"));
  EXPECT_TRUE(challenge.ends_with("@mx.example>"));
}

TEST(AuthCommandTest, Preconditions) {
  AuthDialogue dialogue("mx.example");
  EXPECT_EQ(dialogue.Start("PLAIN", AuthPreconditions{}).reply,
            "503 5.5.1 Error: authentication not enabled");
  AuthPreconditions second = Offered();
  second.authenticated = true;
  EXPECT_TRUE(dialogue.Start("PLAIN", second).reply.starts_with("503 5.5.1"));
  AuthPreconditions in_mail = Offered();
  in_mail.in_transaction = true;
  EXPECT_TRUE(dialogue.Start("PLAIN", in_mail).reply.starts_with("503 5.5.1"));
  AuthPreconditions locked = Offered();
  locked.locked_out = true;
  EXPECT_EQ(dialogue.Start("PLAIN", locked).reply, "454 4.7.0 Too many authentication failures");
  EXPECT_EQ(dialogue.Start("", Offered()).action, Action::kFinished);
  EXPECT_TRUE(dialogue.Start("", Offered()).reply.starts_with("501"));
  EXPECT_TRUE(dialogue.Start("GSSAPI", Offered()).reply.starts_with("504"));
  EXPECT_TRUE(dialogue.Start("PLAIN a b", Offered()).reply.starts_with("501"));
}

TEST(AuthCommandTest, CancelAndBadBase64Are501) {
  AuthDialogue dialogue("mx.example");
  dialogue.Start("LOGIN", Offered());
  EXPECT_EQ(dialogue.OnLine("*").reply, "501 5.7.0 Authentication aborted");
  EXPECT_FALSE(dialogue.active());
  dialogue.Start("LOGIN", Offered());
  EXPECT_EQ(dialogue.OnLine("%%%").reply, "501 5.5.2 Cannot decode response");
  EXPECT_TRUE(dialogue.Start("PLAIN !!!!", Offered()).reply.starts_with("501"));
}

TEST(AuthCommandTest, EmptyUserIsMalformedAndNeverVerified) {
  // Found by the session fuzzer: an empty LOGIN user name reached the
  // verifier, and a "valid" verdict left the session authenticated as "".
  AuthDialogue dialogue("mx.example");
  dialogue.Start("LOGIN", Offered());
  dialogue.OnLine("");  // an empty user name
  auto step = dialogue.OnLine(B64("pw"));
  EXPECT_EQ(step.action, Action::kFinished);
  EXPECT_TRUE(step.reply.starts_with("501 ")) << step.reply;
  EXPECT_FALSE(dialogue.verifying());
  step = dialogue.Start("PLAIN " + B64(std::string("\0\0pw", 4)), Offered());
  EXPECT_EQ(step.action, Action::kFinished);
  EXPECT_TRUE(step.reply.starts_with("501 ")) << step.reply;
}

TEST(AuthCommandTest, TemporaryFailureIs454) {
  AuthDialogue dialogue("mx.example");
  dialogue.Start("PLAIN " + B64(std::string("\0a\0b", 4)), Offered());
  dialogue.TakeCredentials();
  EXPECT_EQ(dialogue.OnVerdict(AuthVerdict::kTemporaryFailure).reply,
            "454 4.7.0 Temporary authentication failure");
}

}  // namespace
}  // namespace etrnd::smtp

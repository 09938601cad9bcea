#include "etrnd/auth/sasl_exchange.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace etrnd::auth {
namespace {

using Status = SaslExchange::Status;

std::string B64(std::string_view raw) {
  return absl::Base64Escape(absl::string_view(raw.data(), raw.size()));
}

TEST(SaslExchangeTest, PlainWithInitialResponse) {
  SaslExchange exchange(SaslMechanism::kPlain, "");
  EXPECT_EQ(exchange.Start(B64(std::string("\0alice\0s3cret", 13))), Status::kDone);
  EXPECT_EQ(exchange.credentials().user, "alice");
  EXPECT_EQ(exchange.credentials().password, "s3cret");
}

TEST(SaslExchangeTest, PlainAfterEmptyChallenge) {
  SaslExchange exchange(SaslMechanism::kPlain, "");
  ASSERT_EQ(exchange.Start(std::nullopt), Status::kChallenge);
  EXPECT_EQ(exchange.challenge(), "");
  EXPECT_EQ(exchange.OnClientLine(B64(std::string("alice\0alice\0pw", 14))), Status::kDone);
  EXPECT_EQ(exchange.credentials().user, "alice");
  EXPECT_EQ(exchange.credentials().password, "pw");
}

TEST(SaslExchangeTest, PlainForeignAuthzidLeavesNoUser) {
  SaslExchange exchange(SaslMechanism::kPlain, "");
  EXPECT_EQ(exchange.Start(B64(std::string("root\0alice\0pw", 13))), Status::kDone);
  EXPECT_EQ(exchange.credentials().user, "");  // never verifies
}

TEST(SaslExchangeTest, PlainWithoutTwoNulsIsMalformed) {
  SaslExchange exchange(SaslMechanism::kPlain, "");
  EXPECT_EQ(exchange.Start(B64("alice")), Status::kMalformed);
  EXPECT_EQ(exchange.credentials().password, "");
}

TEST(SaslExchangeTest, LoginAsksForUserThenPassword) {
  SaslExchange exchange(SaslMechanism::kLogin, "");
  ASSERT_EQ(exchange.Start(std::nullopt), Status::kChallenge);
  EXPECT_EQ(exchange.challenge(), B64("Username:"));
  ASSERT_EQ(exchange.OnClientLine(B64("alice")), Status::kChallenge);
  EXPECT_EQ(exchange.challenge(), B64("Password:"));
  EXPECT_EQ(exchange.OnClientLine(B64("s3cret")), Status::kDone);
  EXPECT_EQ(exchange.credentials().user, "alice");
  EXPECT_EQ(exchange.credentials().password, "s3cret");
}

TEST(SaslExchangeTest, LoginWithInitialUser) {
  SaslExchange exchange(SaslMechanism::kLogin, "");
  ASSERT_EQ(exchange.Start(B64("alice")), Status::kChallenge);
  EXPECT_EQ(exchange.challenge(), B64("Password:"));
  EXPECT_EQ(exchange.OnClientLine(B64("pw")), Status::kDone);
}

TEST(SaslExchangeTest, CramMd5SendsChallengeAndTakesDigest) {
  const std::string challenge = "<1896.697170952@postoffice.reston.mci.net>";
  SaslExchange exchange(SaslMechanism::kCramMd5, challenge);
  ASSERT_EQ(exchange.Start(std::nullopt), Status::kChallenge);
  EXPECT_EQ(exchange.challenge(), B64(challenge));
  EXPECT_EQ(exchange.OnClientLine(B64("tim B913A602C7EDA7A495B4E6E7334D3890")), Status::kDone);
  EXPECT_EQ(exchange.credentials().user, "tim");
  EXPECT_EQ(exchange.credentials().digest, "b913a602c7eda7a495b4e6e7334d3890");
  EXPECT_EQ(exchange.credentials().challenge, challenge);
}

TEST(SaslExchangeTest, CramMd5RefusesInitialResponseAndBadDigest) {
  SaslExchange first(SaslMechanism::kCramMd5, "<1.2@h>");
  EXPECT_EQ(first.Start(B64("tim x")), Status::kMalformed);
  SaslExchange second(SaslMechanism::kCramMd5, "<1.2@h>");
  ASSERT_EQ(second.Start(std::nullopt), Status::kChallenge);
  EXPECT_EQ(second.OnClientLine(B64("tim 1234")), Status::kMalformed);
}

TEST(SaslExchangeTest, StarCancels) {
  SaslExchange exchange(SaslMechanism::kLogin, "");
  ASSERT_EQ(exchange.Start(std::nullopt), Status::kChallenge);
  ASSERT_EQ(exchange.OnClientLine(B64("alice")), Status::kChallenge);
  EXPECT_EQ(exchange.OnClientLine("*"), Status::kCancelled);
}

TEST(SaslExchangeTest, BadBase64IsMalformed) {
  for (std::string_view bad : {"not base64!", "YWJj\x01", "YWJjZA", "YW=j"}) {
    SaslExchange exchange(SaslMechanism::kLogin, "");
    ASSERT_EQ(exchange.Start(std::nullopt), Status::kChallenge);
    EXPECT_EQ(exchange.OnClientLine(bad), Status::kMalformed) << bad;
  }
}

TEST(SaslExchangeTest, MechanismNames) {
  EXPECT_EQ(ParseSaslMechanism("plain"), SaslMechanism::kPlain);
  EXPECT_EQ(ParseSaslMechanism("LOGIN"), SaslMechanism::kLogin);
  EXPECT_EQ(ParseSaslMechanism("Cram-Md5"), SaslMechanism::kCramMd5);
  EXPECT_FALSE(ParseSaslMechanism("DIGEST-MD5").has_value());
  EXPECT_EQ(SaslMechanismName(SaslMechanism::kCramMd5), "CRAM-MD5");
}

TEST(SaslExchangeTest, ChallengesDiffer) {
  const std::string a = MakeCramMd5Challenge("mx.example");
  const std::string b = MakeCramMd5Challenge("mx.example");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.front(), '<');
  EXPECT_TRUE(a.ends_with("@mx.example>"));
}

}  // namespace
}  // namespace etrnd::auth

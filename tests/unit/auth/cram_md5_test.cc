#include "etrnd/auth/cram_md5.h"

#include <string>

#include "gtest/gtest.h"

namespace etrnd::auth {
namespace {

// `doveadm pw -s CRAM-MD5 -p secret` (Dovecot 2.3, Debian 12): the stored
// form fixes the byte order (words little-endian, outer state first).
constexpr std::string_view kDoveadmSecret =
    "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";

TEST(CramMd5Test, StoredFormMatchesDoveadm) {
  EXPECT_EQ(CramMd5SecretHex("secret"), kDoveadmSecret);
}

// RFC 2104 test vectors through the stored states: key "Jefe".
TEST(CramMd5Test, DigestMatchesRfc2104Vector) {
  auto secret = ParseCramMd5Secret(CramMd5SecretHex("Jefe"));
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(CramMd5DigestHex(*secret, "what do ya want for nothing?"),
            "750c783e6ab0b503eaa86e310a5db738");
}

// RFC 2195 section 2's example exchange.
TEST(CramMd5Test, DigestMatchesRfc2195Example) {
  auto secret = ParseCramMd5Secret(CramMd5SecretHex("tanstaaftanstaaf"));
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(CramMd5DigestHex(*secret, "<1896.697170952@postoffice.reston.mci.net>"),
            "b913a602c7eda7a495b4e6e7334d3890");
}

TEST(CramMd5Test, DoveadmSecretVerifiesItsPassword) {
  auto stored = ParseCramMd5Secret(kDoveadmSecret);
  auto derived = ParseCramMd5Secret(CramMd5SecretHex("secret"));
  ASSERT_TRUE(stored.has_value() && derived.has_value());
  EXPECT_EQ(CramMd5DigestHex(*stored, "<1.2@h>"), CramMd5DigestHex(*derived, "<1.2@h>"));
  auto other = ParseCramMd5Secret(CramMd5SecretHex("Secret"));
  EXPECT_NE(CramMd5DigestHex(*stored, "<1.2@h>"), CramMd5DigestHex(*other, "<1.2@h>"));
}

TEST(CramMd5Test, LongKeyIsHashedFirst) {
  // RFC 2202 test case 6: an 80-byte key of 0xaa.
  auto secret = ParseCramMd5Secret(CramMd5SecretHex(std::string(80, '\xaa')));
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(CramMd5DigestHex(*secret, "Test Using Larger Than Block-Size Key - Hash Key First"),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
}

TEST(CramMd5Test, Md5FinishOfEmptyMessage) {
  const auto digest = Md5Finish({0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}, 0, "");
  EXPECT_EQ(digest[0], 0xd4);  // d41d8cd98f00b204e9800998ecf8427e
  EXPECT_EQ(digest[15], 0x7e);
}

TEST(CramMd5Test, MalformedSecretsAreRefused) {
  EXPECT_FALSE(ParseCramMd5Secret("").has_value());
  EXPECT_FALSE(ParseCramMd5Secret(kDoveadmSecret.substr(1)).has_value());
  std::string bad(kDoveadmSecret);
  bad[10] = 'g';
  EXPECT_FALSE(ParseCramMd5Secret(bad).has_value());
  EXPECT_TRUE(ParseCramMd5Secret("CD3BA7DEAAD6E5CA23448BA42E379747A9E0F7F1FBC00C8A81BBAAC395731B56")
                  .has_value());
}

}  // namespace
}  // namespace etrnd::auth

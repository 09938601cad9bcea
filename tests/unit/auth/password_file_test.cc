#include "etrnd/auth/password_file.h"

#include "gtest/gtest.h"

namespace etrnd::auth {
namespace {

// Made with python3's crypt module for the password "s3cret".
constexpr char kSha512[] =
    "$6$Xk3z/Qo3qLupihJO$bKBCzWuWKDYl4vYMBjOu2rrnUuDzA4RpNOxHQD0jevF8PfxvxX8MKFvj/V/Di7/"
    "YZmHU2KWFhtBGJVTA5Aa9l.";
constexpr char kYescrypt[] =
    "$y$j9T$AbCdEfGhIjKlMnOpQrStU0$CpWfWMQfo6IYIo3/oqvii9zSjEjV/lrh/HK20S73mQ.";
constexpr char kCram[] =
    "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56";

std::string Line(std::string_view user, std::string_view hash) {
  return std::string(user) + ":" + std::string(hash) + "\n";
}

TEST(PasswordFileTest, ParsesCryptAndCramLines) {
  auto file = PasswordFile::Parse("# customers\n\n" + Line("alice", kSha512) +
                                      Line("bob", kYescrypt) + Line("bob", kCram) + "   \n",
                                  "auth.conf");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 2u);
  EXPECT_TRUE((*file)->has_cram_md5());
  const UserSecrets* alice = (*file)->Find("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->crypt_hash, kSha512);
  EXPECT_FALSE(alice->cram_md5.has_value());
  const UserSecrets* bob = (*file)->Find("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_EQ(bob->crypt_hash, kYescrypt);
  EXPECT_TRUE(bob->cram_md5.has_value());
  EXPECT_EQ((*file)->Find("Alice"), nullptr);  // user names are case-sensitive
  EXPECT_EQ((*file)->Find("carol"), nullptr);
}

TEST(PasswordFileTest, NoCramLineMeansNoCramMd5) {
  auto file = PasswordFile::Parse(Line("alice", kSha512), "auth.conf");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE((*file)->has_cram_md5());
}

TEST(PasswordFileTest, DovecotCryptPrefixIsAccepted) {
  auto file = PasswordFile::Parse(Line("alice", std::string("{SHA512-CRYPT}") + kSha512), "f");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Find("alice")->crypt_hash, kSha512);
}

void ExpectError(const std::string& text, std::string_view where, std::string_view what) {
  auto file = PasswordFile::Parse(text, "auth.conf");
  ASSERT_FALSE(file.ok()) << text;
  const std::string message(file.status().message());
  EXPECT_NE(message.find(where), std::string::npos) << file.status();
  EXPECT_NE(message.find(what), std::string::npos) << file.status();
}

TEST(PasswordFileTest, RefusesPlaintextAndUnknownSchemes) {
  ExpectError("# x\n" + Line("alice", "hunter2"), "auth.conf:2:", "plaintext");
  ExpectError(Line("alice", "{PLAIN}hunter2"), "auth.conf:1:", "plaintext");
  ExpectError(Line("alice", "{SSHA}abcd"), "auth.conf:1:", "unsupported");
  ExpectError(Line("alice", "$1$abc$defghijklmnopqrstuvwxy"), "auth.conf:1:", "weak");
  ExpectError(Line("alice", "$9$nonsense"), "auth.conf:1:", "crypt");
  ExpectError(Line("alice", "{CRAM-MD5}abcd"), "auth.conf:1:", "64 hex");
}

TEST(PasswordFileTest, RefusesMalformedLines) {
  ExpectError("alice\n", "auth.conf:1:", "user:HASH");
  ExpectError(Line("", kSha512), "auth.conf:1:", "user name");
  ExpectError(Line("al ice", kSha512), "auth.conf:1:", "user name");
  ExpectError(Line("alice", std::string(kSha512) + ":1000:1000"), "auth.conf:1:", "one ':'");
  ExpectError(Line("alice", kSha512) + Line("alice", kYescrypt), "auth.conf:2:", "second");
  ExpectError(Line("alice", kCram) + Line("alice", kCram), "auth.conf:2:", "second");
}

TEST(PasswordFileTest, LoadFileNamesAMissingFile) {
  auto file = PasswordFile::LoadFile("/nonexistent/etrnd-auth.conf");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(std::string(file.status().message()).find("/nonexistent/etrnd-auth.conf"),
            std::string::npos);
}

TEST(PasswordFileTest, UserNames) {
  EXPECT_TRUE(IsValidUserName("alice@example.com"));
  EXPECT_FALSE(IsValidUserName(""));
  EXPECT_FALSE(IsValidUserName("a,b"));
  EXPECT_FALSE(IsValidUserName("a:b"));
  EXPECT_FALSE(IsValidUserName(std::string(kUserNameOctetsMax + 1, 'a')));
}

}  // namespace
}  // namespace etrnd::auth

#include "etrnd/auth/credential_check.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "etrnd/auth/credential_verifier.h"
#include "gtest/gtest.h"

namespace etrnd::auth {
namespace {

// python3 crypt, password "s3cret"; the {CRAM-MD5} line is doveadm's for "secret".
constexpr char kFile[] =
    "alice:$6$Xk3z/Qo3qLupihJO$bKBCzWuWKDYl4vYMBjOu2rrnUuDzA4RpNOxHQD0jevF8PfxvxX8MKFvj/V/Di7/"
    "YZmHU2KWFhtBGJVTA5Aa9l.\n"
    "bob:$y$j9T$AbCdEfGhIjKlMnOpQrStU0$CpWfWMQfo6IYIo3/oqvii9zSjEjV/lrh/HK20S73mQ.\n"
    "bob:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n";

std::shared_ptr<const PasswordFile> File() { return *PasswordFile::Parse(kFile, "auth.conf"); }

SaslCredentials Plain(std::string user, std::string password) {
  SaslCredentials credentials;
  credentials.mechanism = SaslMechanism::kPlain;
  credentials.user = std::move(user);
  credentials.password = std::move(password);
  return credentials;
}

SaslCredentials Cram(std::string user, std::string challenge, std::string password) {
  SaslCredentials credentials;
  credentials.mechanism = SaslMechanism::kCramMd5;
  credentials.user = std::move(user);
  credentials.digest = CramMd5DigestHex(*ParseCramMd5Secret(CramMd5SecretHex(password)), challenge);
  credentials.challenge = std::move(challenge);
  return credentials;
}

TEST(CredentialCheckTest, CryptPasswords) {
  auto file = File();
  auto scratch = std::make_unique<CryptScratch>();
  EXPECT_TRUE(CheckCredentials(*file, Plain("alice", "s3cret"), *scratch));
  EXPECT_TRUE(CheckCredentials(*file, Plain("bob", "s3cret"), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Plain("alice", "s3cret "), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Plain("alice", ""), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Plain("carol", "s3cret"), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Plain("", "s3cret"), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Plain("alice", std::string("s3cret\0x", 8)), *scratch));
}

TEST(CredentialCheckTest, CramMd5FromStoredStates) {
  auto file = File();
  auto scratch = std::make_unique<CryptScratch>();
  EXPECT_TRUE(CheckCredentials(*file, Cram("bob", "<7.8@mx.example>", "secret"), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Cram("bob", "<7.8@mx.example>", "s3cret"), *scratch));
  // alice has no {CRAM-MD5} line; carol does not exist.
  EXPECT_FALSE(CheckCredentials(*file, Cram("alice", "<7.8@mx.example>", "secret"), *scratch));
  EXPECT_FALSE(CheckCredentials(*file, Cram("carol", "<7.8@mx.example>", "secret"), *scratch));
  // A digest for another challenge (a replay) fails.
  SaslCredentials replay = Cram("bob", "<7.8@mx.example>", "secret");
  replay.challenge = "<7.9@mx.example>";
  EXPECT_FALSE(CheckCredentials(*file, replay, *scratch));
}

TEST(CredentialVerifierTest, AnswersOnItsWorker) {
  CredentialVerifier verifier;
  std::atomic<int> valid{0};
  std::atomic<int> invalid{0};
  ASSERT_TRUE(verifier.Submit(File(), Plain("alice", "s3cret"),
                              [&](bool ok) { (ok ? valid : invalid).fetch_add(1); }));
  ASSERT_TRUE(verifier.Submit(File(), Plain("alice", "wrong"),
                              [&](bool ok) { (ok ? valid : invalid).fetch_add(1); }));
  while (valid.load() + invalid.load() < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(valid.load(), 1);
  EXPECT_EQ(invalid.load(), 1);
}

TEST(CredentialVerifierTest, RefusesOverTheBound) {
  CredentialVerifier verifier(/*queue_depth_max=*/1);
  // yescrypt keeps the worker busy while the queue fills: of many quick
  // submissions, some must be refused.
  int accepted = 0;
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    if (verifier.Submit(File(), Plain("bob", "x"), [](bool) {})) {
      ++accepted;
    } else {
      ++refused;
    }
  }
  EXPECT_GE(accepted, 1);
  EXPECT_GE(refused, 1);
}

}  // namespace
}  // namespace etrnd::auth

#include "etrnd/auth/credential_check.h"

#include <openssl/crypto.h>

#include <cstring>
#include <string_view>

#include "etrnd/auth/cram_md5.h"

namespace etrnd::auth {
namespace {

// Checked against when the user is unknown or has no crypt(3) line, so that
// such a request costs the same as a real one. (yescrypt of a random string.)
constexpr char kDummyHash[] =
    "$y$j9T$abcdefghijklmnopqrstu1$r5KLArNb3YK1XHyuJii2Y19TOnjUUkQLeuL9gO1zwYC";

bool EqualConstantTime(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool CheckCrypt(const UserSecrets* secrets, const SaslCredentials& credentials,
                CryptScratch& scratch) {
  const bool have_hash = secrets != nullptr && !secrets->crypt_hash.empty();
  const char* hash = have_hash ? secrets->crypt_hash.c_str() : kDummyHash;
  std::memset(&scratch.data, 0, sizeof scratch.data);
  const char* computed =
      crypt_rn(credentials.password.c_str(), hash, &scratch.data, sizeof scratch.data);
  // crypt_rn fails (nullptr) for a setting it cannot use; a leading '*' is
  // its failure token on some builds.
  const bool match = computed != nullptr && computed[0] != '*' && have_hash &&
                     EqualConstantTime(computed, secrets->crypt_hash);
  OPENSSL_cleanse(&scratch.data, sizeof scratch.data);
  return match;
}

bool CheckCramMd5(const UserSecrets* secrets, const SaslCredentials& credentials) {
  if (secrets == nullptr || !secrets->cram_md5.has_value()) return false;
  const std::string expected = CramMd5DigestHex(*secrets->cram_md5, credentials.challenge);
  return EqualConstantTime(expected, credentials.digest);
}

}  // namespace

bool CheckCredentials(const PasswordFile& passwords, const SaslCredentials& credentials,
                      CryptScratch& scratch) {
  const UserSecrets* secrets = passwords.Find(credentials.user);
  if (credentials.user.empty()) secrets = nullptr;  // e.g. PLAIN with a foreign authzid
  switch (credentials.mechanism) {
    case SaslMechanism::kPlain:
    case SaslMechanism::kLogin:
      // A NUL would end crypt's C string early: never a match.
      if (credentials.password.find('\0') != std::string::npos) secrets = nullptr;
      return CheckCrypt(secrets, credentials, scratch);
    case SaslMechanism::kCramMd5:
      return CheckCramMd5(secrets, credentials);
  }
  return false;
}

}  // namespace etrnd::auth

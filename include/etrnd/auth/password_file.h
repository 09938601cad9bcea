// SMTP AUTH (RFC 4954) for etrnd, pure: the password file (--auth_file), the
// SASL exchanges PLAIN, LOGIN and CRAM-MD5 (sasl_exchange.h), the credential
// check (credential_check.h), the bounded worker that runs it off the
// reactor threads (credential_verifier.h) and the failure limiter
// (auth_failure_limiter.h). It never includes the reactor, the transport or
// the SMTP session; the SMTP and ODMR sessions drive it through
// smtp/auth_command.h.
//
// The password file: one `user:HASH` line per secret; blank lines and lines
// starting with '#' are ignored. HASH is a crypt(3) string (yescrypt `$y$`,
// sha512-crypt `$6$`, ...) for PLAIN and LOGIN, or Dovecot's `{CRAM-MD5}`
// form for CRAM-MD5; a user may have one line of each. Plaintext and unknown
// schemes are refused with the file and line.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "etrnd/auth/cram_md5.h"

namespace etrnd::auth {

// Bounds on what one file may hold; far above a real deployment.
inline constexpr size_t kPasswordFileBytesMax = size_t{64} << 20;
inline constexpr size_t kPasswordFileLineOctetsMax = 4096;
inline constexpr size_t kUserNameOctetsMax = 255;

struct UserSecrets {
  std::string crypt_hash;                 // "" = no PLAIN/LOGIN secret
  std::optional<CramMd5Secret> cram_md5;  // none = no CRAM-MD5 secret
};

class PasswordFile {
 public:
  // Errors: InvalidArgument "<file>:<line>: <reason>"; an unreadable file
  // gives an error whose message starts with the path.
  static absl::StatusOr<std::shared_ptr<const PasswordFile>> LoadFile(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const PasswordFile>> Parse(std::string_view text,
                                                                   std::string_view file_name);

  // nullptr = no such user. User names compare exactly (case-sensitive).
  const UserSecrets* Find(std::string_view user) const;
  // Whether EHLO offers CRAM-MD5: some user has a {CRAM-MD5} line.
  bool has_cram_md5() const { return has_cram_md5_; }
  size_t size() const { return users_.size(); }

 private:
  PasswordFile() = default;

  absl::flat_hash_map<std::string, UserSecrets> users_;
  bool has_cram_md5_ = false;
};

// A user name acceptable in the password file and in a table's auth=
// option: printable ASCII without spaces, ':' or ',', at most
// kUserNameOctetsMax octets.
bool IsValidUserName(std::string_view user);

}  // namespace etrnd::auth

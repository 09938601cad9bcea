#include "etrnd/auth/password_file.h"

#include <crypt.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "etrnd/common/strings.h"

namespace etrnd::auth {
namespace {

// Dovecot's scheme prefixes that carry a crypt(3) string after them.
constexpr std::string_view kCryptPrefixes[] = {"{CRYPT}", "{SHA512-CRYPT}", "{SHA256-CRYPT}",
                                               "{BLF-CRYPT}"};

absl::Status LineError(std::string_view file_name, int line, std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(file_name), ":", line, ": ", AsAbsl(reason)));
}

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// A crypt(3) setting libxcrypt can verify with, and strong enough: no DES,
// MD5-crypt or other legacy methods.
bool IsStrongCryptHash(std::string_view hash) {
  if (hash.size() < 4 || hash.front() != '$') return false;
  const std::string copy(hash);
  return crypt_checksalt(copy.c_str()) == CRYPT_SALT_OK;
}

// The reason a HASH field is refused, or "" when *secrets took it.
std::string TakeHash(std::string_view hash, UserSecrets* secrets, bool* cram_md5) {
  *cram_md5 = false;
  if (hash.starts_with(kCramMd5Prefix)) {
    if (secrets->cram_md5.has_value()) return "second {CRAM-MD5} line for this user";
    std::optional<CramMd5Secret> secret = ParseCramMd5Secret(hash.substr(kCramMd5Prefix.size()));
    if (!secret.has_value()) return "bad {CRAM-MD5} secret (64 hex digits expected)";
    secrets->cram_md5 = *secret;
    *cram_md5 = true;
    return "";
  }
  for (std::string_view prefix : kCryptPrefixes) {
    if (hash.starts_with(prefix)) {
      hash.remove_prefix(prefix.size());
      break;
    }
  }
  if (hash.starts_with("{")) {
    return "unsupported password scheme (plaintext is never accepted; use a crypt(3) hash "
           "such as $y$ or $6$, or {CRAM-MD5})";
  }
  if (!hash.starts_with("$")) return "not a password hash (plaintext is never accepted)";
  if (!IsStrongCryptHash(hash)) {
    return "unsupported or weak crypt(3) hash (use yescrypt $y$ or sha512-crypt $6$)";
  }
  if (!secrets->crypt_hash.empty()) return "second crypt(3) line for this user";
  secrets->crypt_hash = std::string(hash);
  return "";
}

}  // namespace

bool IsValidUserName(std::string_view user) {
  if (user.empty() || user.size() > kUserNameOctetsMax) return false;
  for (char c : user) {
    if (c <= ' ' || c > '~' || c == ':' || c == ',') return false;
  }
  return true;
}

absl::StatusOr<std::shared_ptr<const PasswordFile>> PasswordFile::Parse(
    std::string_view text, std::string_view file_name) {
  std::shared_ptr<PasswordFile> file(new PasswordFile());
  int line_number = 0;
  for (absl::string_view piece : absl::StrSplit(AsAbsl(text), '\n')) {
    const std::string_view raw(piece.data(), piece.size());
    ++line_number;
    if (raw.size() > kPasswordFileLineOctetsMax) {
      return LineError(file_name, line_number,
                       absl::StrCat("line longer than ", kPasswordFileLineOctetsMax, " octets"));
    }
    const std::string_view line = TrimBlanks(raw);
    if (line.empty() || line.front() == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return LineError(file_name, line_number, "expected user:HASH");
    }
    const std::string_view user = line.substr(0, colon);
    const std::string_view hash = line.substr(colon + 1);
    if (!IsValidUserName(user)) {
      return LineError(file_name, line_number, "bad user name (printable, no ':' ',' or spaces)");
    }
    // The hash itself has no ':', so one here is an extra field (or a
    // plaintext password that contains one).
    if (hash.find(':') != std::string_view::npos) {
      return LineError(file_name, line_number, "expected user:HASH (one ':' only)");
    }
    UserSecrets& secrets = file->users_[AsAbsl(user)];
    bool cram_md5 = false;
    if (std::string problem = TakeHash(hash, &secrets, &cram_md5); !problem.empty()) {
      return LineError(file_name, line_number,
                       absl::StrCat("user '", AsAbsl(user), "': ", problem));
    }
    file->has_cram_md5_ |= cram_md5;
  }
  return std::shared_ptr<const PasswordFile>(std::move(file));
}

// Read with stdio: called at start-up and on SIGHUP from the main thread,
// never on a reactor thread.
absl::StatusOr<std::shared_ptr<const PasswordFile>> PasswordFile::LoadFile(
    const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    text.append(buffer, n);
    if (text.size() > kPasswordFileBytesMax) {
      std::fclose(f);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kPasswordFileBytesMax, " bytes"));
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::InternalError(absl::StrCat(path, ": read error"));
  return Parse(text, path);
}

const UserSecrets* PasswordFile::Find(std::string_view user) const {
  auto it = users_.find(AsAbsl(user));
  return it == users_.end() ? nullptr : &it->second;
}

}  // namespace etrnd::auth

#include "etrnd/auth/sasl_exchange.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/auth/password_file.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::auth {
namespace {

constexpr size_t kCramDigestHexDigits = 32;

void Wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

// Strict base64 (RFC 4648 with padding); "=" alone is an empty response.
bool DecodeBase64(std::string_view text, std::string* out) {
  out->clear();
  if (text == "=") return true;
  if (text.size() % 4 != 0) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return false;
    }
  }
  return absl::Base64Unescape(AsAbsl(text), out);
}

bool IsHex(std::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

SaslCredentials::~SaslCredentials() { Wipe(password); }

std::optional<SaslMechanism> ParseSaslMechanism(std::string_view name) {
  if (absl::EqualsIgnoreCase(AsAbsl(name), "PLAIN")) return SaslMechanism::kPlain;
  if (absl::EqualsIgnoreCase(AsAbsl(name), "LOGIN")) return SaslMechanism::kLogin;
  if (absl::EqualsIgnoreCase(AsAbsl(name), "CRAM-MD5")) return SaslMechanism::kCramMd5;
  return std::nullopt;
}

std::string_view SaslMechanismName(SaslMechanism mechanism) {
  switch (mechanism) {
    case SaslMechanism::kPlain:
      return "PLAIN";
    case SaslMechanism::kLogin:
      return "LOGIN";
    case SaslMechanism::kCramMd5:
      return "CRAM-MD5";
  }
  return "?";
}

std::string MakeCramMd5Challenge(std::string_view hostname) {
  uint64_t random = 0;
  ETRND_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(&random), sizeof random) == 1);
  return absl::StrCat("<", random, ".", absl::ToUnixSeconds(absl::Now()), "@", AsAbsl(hostname),
                      ">");
}

SaslExchange::SaslExchange(SaslMechanism mechanism, std::string cram_challenge) {
  credentials_.mechanism = mechanism;
  credentials_.challenge = std::move(cram_challenge);
  ETRND_CHECK(mechanism != SaslMechanism::kCramMd5 || !credentials_.challenge.empty());
}

SaslExchange::Status SaslExchange::Start(std::optional<std::string_view> initial_response) {
  ETRND_CHECK(step_ == Step::kStart);
  switch (credentials_.mechanism) {
    case SaslMechanism::kPlain:
      step_ = Step::kPlainResponse;
      if (!initial_response.has_value()) return Ask(Step::kPlainResponse, "");
      return OnClientLine(*initial_response);
    case SaslMechanism::kLogin:
      step_ = Step::kLoginUser;
      if (!initial_response.has_value()) return Ask(Step::kLoginUser, "Username:");
      return OnClientLine(*initial_response);
    case SaslMechanism::kCramMd5:
      // The server speaks first in CRAM-MD5: an initial response is a
      // protocol error (RFC 4954 section 4).
      if (initial_response.has_value()) return Finish(Status::kMalformed);
      return Ask(Step::kCramResponse, credentials_.challenge);
  }
  return Finish(Status::kMalformed);
}

SaslExchange::Status SaslExchange::OnClientLine(std::string_view line) {
  ETRND_CHECK(step_ != Step::kStart && step_ != Step::kFinished);
  if (line == "*") return Finish(Status::kCancelled);
  std::string decoded;
  if (!DecodeBase64(line, &decoded)) return Finish(Status::kMalformed);
  const Status status = Respond(decoded);
  Wipe(decoded);
  return status;
}

SaslExchange::Status SaslExchange::Respond(std::string_view decoded) {
  switch (step_) {
    case Step::kPlainResponse: {
      // authzid NUL authcid NUL passwd; acting as another user is not offered.
      const size_t first = decoded.find('\0');
      const size_t second = first == std::string_view::npos ? first : decoded.find('\0', first + 1);
      if (second == std::string_view::npos) return Finish(Status::kMalformed);
      const std::string_view authzid = decoded.substr(0, first);
      credentials_.user = std::string(decoded.substr(first + 1, second - first - 1));
      credentials_.password = std::string(decoded.substr(second + 1));
      if (!authzid.empty() && authzid != credentials_.user) credentials_.user.clear();
      if (credentials_.password.find('\0') != std::string::npos) {
        return Finish(Status::kMalformed);
      }
      return Finish(Status::kDone);
    }
    case Step::kLoginUser:
      credentials_.user = std::string(decoded);
      return Ask(Step::kLoginPassword, "Password:");
    case Step::kLoginPassword:
      credentials_.password = std::string(decoded);
      return Finish(Status::kDone);
    case Step::kCramResponse: {
      // "user SP digest", the digest 32 hex digits.
      const size_t space = decoded.rfind(' ');
      if (space == std::string_view::npos) return Finish(Status::kMalformed);
      const std::string_view digest = decoded.substr(space + 1);
      if (digest.size() != kCramDigestHexDigits || !IsHex(digest)) {
        return Finish(Status::kMalformed);
      }
      credentials_.user = std::string(decoded.substr(0, space));
      credentials_.digest = absl::AsciiStrToLower(AsAbsl(digest));
      return Finish(Status::kDone);
    }
    case Step::kStart:
    case Step::kFinished:
      break;
  }
  return Finish(Status::kMalformed);
}

SaslExchange::Status SaslExchange::Ask(Step next, std::string_view raw_challenge) {
  step_ = next;
  challenge_ = absl::Base64Escape(AsAbsl(raw_challenge));
  return Status::kChallenge;
}

SaslExchange::Status SaslExchange::Finish(Status status) {
  step_ = Step::kFinished;
  challenge_.clear();
  if (status != Status::kDone) Wipe(credentials_.password);
  return status;
}

}  // namespace etrnd::auth

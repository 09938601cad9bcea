// The server side of one SASL exchange (RFC 4422) for PLAIN (RFC 4616),
// LOGIN (draft-murchison-sasl-login) and CRAM-MD5 (RFC 2195), as a pure step
// machine: Start() with the mechanism's initial response (if the client sent
// one), then OnClientLine() for each line the client sends, until the
// credentials are complete. Base64 framing is done here; replies and reply
// codes are the caller's (smtp/auth_command.h). Nothing is verified here:
// credential_check.h does that, off the reactor thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace etrnd::auth {

enum class SaslMechanism { kPlain, kLogin, kCramMd5 };

// "PLAIN", "LOGIN", "CRAM-MD5" (case-insensitive); nullopt otherwise.
std::optional<SaslMechanism> ParseSaslMechanism(std::string_view name);
std::string_view SaslMechanismName(SaslMechanism mechanism);

// What the client proved, once the exchange is complete. The password is
// never logged; it is wiped when the credentials are destroyed.
struct SaslCredentials {
  SaslCredentials() = default;
  SaslCredentials(SaslCredentials&&) = default;
  SaslCredentials& operator=(SaslCredentials&&) = default;
  ~SaslCredentials();

  SaslMechanism mechanism = SaslMechanism::kPlain;
  std::string user;       // the authentication identity
  std::string password;   // PLAIN, LOGIN
  std::string challenge;  // CRAM-MD5: what we sent
  std::string digest;     // CRAM-MD5: the client's hex digest (lowercased)
};

// A CRAM-MD5 challenge "<random.time@hostname>" (RFC 2195), with random
// digits from OpenSSL's generator so it is never repeated or guessed.
std::string MakeCramMd5Challenge(std::string_view hostname);

class SaslExchange {
 public:
  enum class Status {
    kChallenge,  // send "334 " + challenge() and wait for the client's line
    kDone,       // credentials() is complete: verify it
    kCancelled,  // the client sent "*"
    kMalformed,  // bad base64 or a malformed response
  };

  // cram_challenge is used by CRAM-MD5 only (MakeCramMd5Challenge).
  SaslExchange(SaslMechanism mechanism, std::string cram_challenge);

  // initial_response: the base64 text after the mechanism name, if any ("="
  // is an empty response, RFC 4954 section 4).
  Status Start(std::optional<std::string_view> initial_response);
  Status OnClientLine(std::string_view line);

  // The base64 challenge to send after "334 " (may be empty).
  const std::string& challenge() const { return challenge_; }
  SaslCredentials& credentials() { return credentials_; }

 private:
  enum class Step { kStart, kPlainResponse, kLoginUser, kLoginPassword, kCramResponse, kFinished };

  Status Respond(std::string_view decoded);
  Status Ask(Step next, std::string_view raw_challenge);
  Status Finish(Status status);

  Step step_ = Step::kStart;
  std::string challenge_;
  SaslCredentials credentials_;
};

}  // namespace etrnd::auth

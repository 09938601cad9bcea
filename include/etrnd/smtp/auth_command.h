// The AUTH command dialogue (RFC 4954), shared by the SMTP server session and
// the ODMR session: preconditions (503/504/454), the SASL exchange's 334
// challenges, the client's lines ("*" -> 501), and the final 235/535/454.
// Pure: the caller verifies the credentials asynchronously (auth::
// CredentialVerifier through its services) and hands the verdict back.
//
// Use:
//   AuthDialogue dialogue(hostname);
//   step = dialogue.Start(argument, preconditions);
//   while step.action == kReply && dialogue.active(): send step.reply, then
//       step = dialogue.OnLine(next client line)
//   on kVerify: verify dialogue.TakeCredentials(), later
//       step = dialogue.OnVerdict(verdict)   // kFinished, 235/535/454
//   on kFinished: send step.reply; the dialogue is over.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "etrnd/auth/sasl_exchange.h"

namespace etrnd::smtp {

// Reply texts (SPEC 5 fixes the 235, 535, 530 and 454 ones).
inline constexpr std::string_view kReplyAuthSuccessful = "235 2.7.0 Authentication successful";
inline constexpr std::string_view kReplyAuthInvalid =
    "535 5.7.8 Authentication credentials invalid";
inline constexpr std::string_view kReplyAuthRequired = "530 5.7.0 Authentication required";
inline constexpr std::string_view kReplyAuthTooManyFailures =
    "454 4.7.0 Too many authentication failures";
inline constexpr std::string_view kReplyAuthTemporaryFailure =
    "454 4.7.0 Temporary authentication failure";
inline constexpr std::string_view kReplyAuthAlreadyDone = "503 5.5.1 Error: already authenticated";
inline constexpr std::string_view kReplyAuthInTransaction =
    "503 5.5.1 Error: MAIL transaction in progress";
inline constexpr std::string_view kReplyAuthNotEnabled =
    "503 5.5.1 Error: authentication not enabled";
inline constexpr std::string_view kReplyAuthSyntax =
    "501 5.5.4 Syntax: AUTH mechanism [initial-response]";
inline constexpr std::string_view kReplyAuthUnknownMechanism =
    "504 5.5.4 Unrecognized authentication type";
inline constexpr std::string_view kReplyAuthCancelled = "501 5.7.0 Authentication aborted";
inline constexpr std::string_view kReplyAuthBadResponse = "501 5.5.2 Cannot decode response";
inline constexpr std::string_view kReplyAuthLineTooLong =
    "500 5.5.6 Authentication Exchange line is too long";

// What EHLO offers on this connection (the caller decides: TLS or loopback,
// and an --auth_file).
struct AuthOffer {
  bool offered = false;
  bool cram_md5 = false;  // some user has a {CRAM-MD5} line
};

// "AUTH PLAIN LOGIN" or "AUTH PLAIN LOGIN CRAM-MD5": the EHLO keyword line
// without its "250-".
std::string AuthEhloKeyword(const AuthOffer& offer);

struct AuthPreconditions {
  AuthOffer offer;
  bool authenticated = false;   // a second AUTH -> 503
  bool in_transaction = false;  // AUTH inside a mail transaction -> 503
  bool locked_out = false;      // too many failures from the address -> 454
};

enum class AuthVerdict { kValid, kInvalid, kTemporaryFailure };

class AuthDialogue {
 public:
  enum class Action {
    kReply,     // send reply; if active(), the next client line goes to OnLine
    kVerify,    // verify TakeCredentials(), then call OnVerdict
    kFinished,  // send reply; the dialogue is over
  };
  struct Step {
    Action action = Action::kFinished;
    std::string reply;  // without CRLF; empty for kVerify
  };

  explicit AuthDialogue(std::string_view hostname) : hostname_(hostname) {}

  // argument: what follows "AUTH ", e.g. "PLAIN AHVzZXIAcGFzcw==".
  Step Start(std::string_view argument, const AuthPreconditions& preconditions);
  // A client line while active() (CRLF removed).
  Step OnLine(std::string_view line);
  // The client's line was longer than the command line bound.
  Step OnLineTooLong();
  Step OnVerdict(AuthVerdict verdict);

  // Waiting for a client line (a 334 was sent).
  bool active() const { return state_ == State::kChallenged; }
  // Waiting for OnVerdict.
  bool verifying() const { return state_ == State::kVerifying; }
  // Valid after kVerify; moves the credentials out (the password with them).
  auth::SaslCredentials TakeCredentials();
  // The mechanism and user of the last exchange (kept after it), for logs
  // and for the session's authenticated identity.
  std::string_view mechanism_name() const;
  const std::string& user() const { return user_; }

 private:
  enum class State { kIdle, kChallenged, kVerifying };

  Step FromSasl(auth::SaslExchange::Status status);
  Step Finished(std::string_view reply);

  std::string hostname_;
  State state_ = State::kIdle;
  std::optional<auth::SaslExchange> exchange_;
  std::optional<auth::SaslMechanism> mechanism_;  // of the last exchange
  std::string user_;
};

}  // namespace etrnd::smtp

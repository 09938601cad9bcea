#include "etrnd/smtp/auth_command.h"

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {

std::string AuthEhloKeyword(const AuthOffer& offer) {
  return offer.cram_md5 ? "AUTH PLAIN LOGIN CRAM-MD5" : "AUTH PLAIN LOGIN";
}

AuthDialogue::Step AuthDialogue::Start(std::string_view argument,
                                       const AuthPreconditions& preconditions) {
  ETRND_CHECK(state_ == State::kIdle);
  if (!preconditions.offer.offered) return Finished(kReplyAuthNotEnabled);
  if (preconditions.authenticated) return Finished(kReplyAuthAlreadyDone);
  if (preconditions.in_transaction) return Finished(kReplyAuthInTransaction);
  const size_t space = argument.find(' ');
  const std::string_view name = argument.substr(0, space);
  std::optional<std::string_view> initial_response;
  if (space != std::string_view::npos) {
    initial_response = argument.substr(space + 1);
    if (initial_response->empty() || initial_response->find(' ') != std::string_view::npos) {
      return Finished(kReplyAuthSyntax);
    }
  }
  if (name.empty()) return Finished(kReplyAuthSyntax);
  std::optional<auth::SaslMechanism> mechanism = auth::ParseSaslMechanism(name);
  if (!mechanism.has_value() ||
      (*mechanism == auth::SaslMechanism::kCramMd5 && !preconditions.offer.cram_md5)) {
    return Finished(kReplyAuthUnknownMechanism);
  }
  // After the syntax checks, so that a locked-out client still learns of
  // its own mistakes; before any exchange, so it costs us nothing.
  if (preconditions.locked_out) return Finished(kReplyAuthTooManyFailures);
  std::string challenge;
  if (*mechanism == auth::SaslMechanism::kCramMd5) {
    challenge = auth::MakeCramMd5Challenge(hostname_);
  }
  exchange_.emplace(*mechanism, std::move(challenge));
  mechanism_ = *mechanism;
  user_.clear();
  return FromSasl(exchange_->Start(initial_response));
}

AuthDialogue::Step AuthDialogue::OnLine(std::string_view line) {
  ETRND_CHECK(state_ == State::kChallenged && exchange_.has_value());
  return FromSasl(exchange_->OnClientLine(line));
}

AuthDialogue::Step AuthDialogue::OnLineTooLong() {
  ETRND_CHECK(state_ == State::kChallenged);
  return Finished(kReplyAuthLineTooLong);
}

AuthDialogue::Step AuthDialogue::FromSasl(auth::SaslExchange::Status status) {
  switch (status) {
    case auth::SaslExchange::Status::kChallenge:
      state_ = State::kChallenged;
      return Step{Action::kReply, absl::StrCat("334 ", exchange_->challenge())};
    case auth::SaslExchange::Status::kDone:
      // No account has an empty name (PLAIN's authcid must not be empty,
      // RFC 4616; LOGIN's may be sent empty): malformed, never verified.
      if (exchange_->credentials().user.empty()) return Finished(kReplyAuthBadResponse);
      state_ = State::kVerifying;
      user_ = exchange_->credentials().user;
      return Step{Action::kVerify, ""};
    case auth::SaslExchange::Status::kCancelled:
      return Finished(kReplyAuthCancelled);
    case auth::SaslExchange::Status::kMalformed:
      return Finished(kReplyAuthBadResponse);
  }
  return Finished(kReplyAuthBadResponse);
}

auth::SaslCredentials AuthDialogue::TakeCredentials() {
  ETRND_CHECK(state_ == State::kVerifying && exchange_.has_value());
  return std::move(exchange_->credentials());
}

AuthDialogue::Step AuthDialogue::OnVerdict(AuthVerdict verdict) {
  ETRND_CHECK(state_ == State::kVerifying);
  switch (verdict) {
    case AuthVerdict::kValid:
      return Finished(kReplyAuthSuccessful);
    case AuthVerdict::kInvalid:
      return Finished(kReplyAuthInvalid);
    case AuthVerdict::kTemporaryFailure:
      return Finished(kReplyAuthTemporaryFailure);
  }
  return Finished(kReplyAuthInvalid);
}

std::string_view AuthDialogue::mechanism_name() const {
  return mechanism_.has_value() ? auth::SaslMechanismName(*mechanism_) : "";
}

AuthDialogue::Step AuthDialogue::Finished(std::string_view reply) {
  state_ = State::kIdle;
  exchange_.reset();
  return Step{Action::kFinished, std::string(reply)};
}

}  // namespace etrnd::smtp

// The server session's SMTP AUTH (RFC 4954) commands: the dialogue itself is
// smtp/auth_command.h (shared with ODMR); here it is wired to the session's
// input, waiting state and error count.
#include "etrnd/common/check.h"
#include "etrnd/smtp/server_session.h"

namespace etrnd::smtp {

void ServerSession::OnAuth(std::string_view argument) {
  if (helo_name_.empty()) return ReplyError("503 5.5.1 Error: send HELO/EHLO first");
  const AuthOffer offer = services_.AuthOffered();
  RunAuthStep(auth_.Start(argument, {.offer = offer,
                                     .authenticated = !authenticated_user_.empty(),
                                     .in_transaction = in_transaction_,
                                     .locked_out = offer.offered && services_.AuthLockedOut()}));
}

void ServerSession::RunAuthStep(AuthDialogue::Step step) {
  switch (step.action) {
    case AuthDialogue::Action::kReply:
      return Reply(step.reply);
    case AuthDialogue::Action::kVerify:
      ETRND_CHECK(waiting_ == Waiting::kNothing);
      waiting_ = Waiting::kAuth;
      services_.VerifyCredentials(auth_.TakeCredentials());
      return;
    case AuthDialogue::Action::kFinished:
      // 235 and 454 are not the client's errors; 5xx count towards
      // max_errors, so a guesser on one connection is closed in the end.
      if (step.reply.starts_with('5')) return ReplyError(step.reply);
      return Reply(step.reply);
  }
}

void ServerSession::OnAuthResult(AuthVerdict verdict) {
  if (waiting_ != Waiting::kAuth) return;
  waiting_ = Waiting::kNothing;
  last_command_at_ = services_.Now();  // the client's clock starts at our reply
  if (verdict == AuthVerdict::kValid) authenticated_user_ = auth_.user();
  ETRND_CHECK(verdict != AuthVerdict::kValid || !authenticated_user_.empty());
  RunAuthStep(auth_.OnVerdict(verdict));
  ResumePendingInput();
}

}  // namespace etrnd::smtp

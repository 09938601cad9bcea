#include "etrnd/blaster/client_session.h"

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {
namespace {

using Outcome = smtp::RecipientOutcome;

smtp::ClientSession::Options CoreOptions(const ClientSessionConfig& config) {
  smtp::ClientSession::Options options;
  options.helo_hostname = config.helo_name;
  options.max_messages_per_connection = SIZE_MAX;  // a session sends until told to quit
  options.quit_when_idle = false;                  // the worker decides what comes next
  options.use_pipelining = config.use_pipelining;
  options.tls = config.starttls ? smtp::TlsMode::kRequire : smtp::TlsMode::kNever;
  options.auth_user = config.auth_user;
  options.auth_password = config.auth_password;
  return options;
}

}  // namespace

ClientSession::ClientSession(ClientSessionConfig config) : core_(CoreOptions(config)) {}

void ClientSession::OnReceive(std::string_view bytes, ClientActions* actions) {
  if (closed_) return;
  const bool was_idle = idle();
  core_.OnBytes(bytes);
  Collect(was_idle, actions);
}

void ClientSession::OnConnectionLost(std::string_view reason, ClientActions* actions) {
  if (closed_) return;
  lost_reason_ = std::string(reason);
  core_.OnConnectionLost();
  Collect(false, actions);
  closed_ = true;
}

void ClientSession::OnTlsStarted(ClientActions* actions) {
  if (closed_) return;
  core_.OnTlsStarted();
  Collect(false, actions);
}

void ClientSession::OnTlsFailed(std::string_view why, ClientActions* actions) {
  if (closed_) return;
  core_.OnTlsFailed(why);
  Collect(false, actions);
}

void ClientSession::StartMessage(std::string_view mail_from,
                                 const std::vector<std::string>& recipients,
                                 std::string_view content, ClientActions* actions) {
  if (!idle()) return;
  content_ = std::string(content);
  outcomes_.clear();
  smtp::OutboundMessage message;
  message.token = next_token_++;
  message.mail_from = std::string(mail_from);
  message.recipients = recipients;
  message.data = content_;
  const bool taken = core_.Enqueue(std::move(message));
  ETRND_CHECK(taken);  // an idle session takes any number of messages
  Collect(true, actions);
}

void ClientSession::StartEtrn(std::string_view argument, ClientActions* actions) {
  if (!idle()) return;
  etrn_in_flight_ = core_.StartCommand(absl::StrCat("ETRN ", AsAbsl(argument)));
  if (!etrn_in_flight_) {  // an argument that cannot go on one line
    TransactionResult result;
    result.kind = TransactionResult::Kind::kEtrn;
    result.error = "invalid";
    actions->results.push_back(std::move(result));
    actions->ready = true;
    return;
  }
  Collect(true, actions);
}

void ClientSession::Quit(ClientActions* actions) {
  if (!idle()) return;
  core_.Quit();
  Collect(true, actions);
}

void ClientSession::Collect(bool was_idle, ClientActions* actions) {
  std::string bytes = core_.TakeOutputAsString();
  if (!bytes.empty()) actions->sends.push_back(std::move(bytes));
  for (Outcome& outcome : core_.TakeOutcomes()) outcomes_.push_back(std::move(outcome));
  bool failure_reported = false;
  for (const smtp::SmtpReply& reply : core_.TakeCommandReplies()) {
    TransactionResult result;
    result.kind = TransactionResult::Kind::kEtrn;
    result.ok = reply.Positive();
    result.final_code = reply.code;
    if (!result.ok) result.error = absl::StrCat(reply.code);
    actions->results.push_back(std::move(result));
    etrn_in_flight_ = false;
    failure_reported = true;  // a 421 to the ETRN is its result, not also a session error
  }
  for ([[maybe_unused]] const uint64_t token : core_.TakeEndedMessages()) {
    // One message at a time: the outcomes so far are all of this one.
    for (const Outcome& outcome : outcomes_) {
      if (outcome.connection_level) failure_reported = true;  // its result says why
    }
    actions->results.push_back(MessageResult());
    outcomes_.clear();
  }
  const smtp::SessionFailure& failure = core_.failure();
  if (failure.kind != smtp::SessionFailure::Kind::kNone) {
    if (etrn_in_flight_) {
      TransactionResult result;
      result.kind = TransactionResult::Kind::kEtrn;
      result.error = FailureKey();
      actions->results.push_back(std::move(result));
      etrn_in_flight_ = false;
      failure_reported = true;
    }
    if (!failure_reported) actions->session_error = FailureKey();
    // Whatever the core still wants to say (QUIT) goes out before the close.
    closed_ = true;
    actions->close = true;
    return;
  }
  if (core_.done()) {  // QUIT answered
    closed_ = true;
    actions->close = true;
    return;
  }
  if (core_.wants_tls_start()) actions->start_tls = true;
  if (!was_idle && idle()) actions->ready = true;
}

TransactionResult ClientSession::MessageResult() const {
  TransactionResult result;
  result.kind = TransactionResult::Kind::kMessage;
  int mail_code = 0;
  int first_rcpt_code = 0;
  int end_code = 0;  // the reply to DATA or to the content
  bool connection_level = false;
  bool any_past_rcpt = false;
  for (const Outcome& outcome : outcomes_) {
    result.final_code = outcome.code;
    if (outcome.kind == Outcome::kDelivered) result.ok = true;
    if (outcome.connection_level) connection_level = true;
    switch (outcome.stage) {
      case Outcome::Stage::kMail:
        mail_code = outcome.code;
        break;
      case Outcome::Stage::kRcpt:
        result.rejected_recipient_codes.push_back(outcome.code);
        if (first_rcpt_code == 0) first_rcpt_code = outcome.code;
        break;
      case Outcome::Stage::kData:
      case Outcome::Stage::kBody:
        end_code = outcome.code;
        any_past_rcpt = true;
        break;
      case Outcome::Stage::kSession:
        break;
    }
  }
  if (result.ok) return result;
  // The reply that explains the failure: the session's, else MAIL's, else
  // the first refused RCPT when nobody was accepted, else DATA's or the
  // content's.
  if (connection_level) {
    result.error = FailureKey();
  } else if (mail_code != 0) {
    result.error = absl::StrCat(mail_code);
  } else if (!any_past_rcpt && first_rcpt_code != 0) {
    result.error = absl::StrCat(first_rcpt_code);
  } else {
    result.error = absl::StrCat(end_code);
  }
  return result;
}

std::string ClientSession::FailureKey() const {
  const smtp::SessionFailure& failure = core_.failure();
  switch (failure.kind) {
    case smtp::SessionFailure::Kind::kNone:
      return "";
    case smtp::SessionFailure::Kind::kReply:
    case smtp::SessionFailure::Kind::kAuth:
      return absl::StrCat(failure.code);
    case smtp::SessionFailure::Kind::kProtocol:
      return "protocol";
    case smtp::SessionFailure::Kind::kConnectionLost:
      return lost_reason_;
    case smtp::SessionFailure::Kind::kTimeout:
      return "timeout";
    case smtp::SessionFailure::Kind::kTls:
      return "tls";
  }
  return "";
}

}  // namespace etrnd::blaster

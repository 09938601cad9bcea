#include "etrnd/smtp/odmr_session.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "etrnd/common/check.h"
#include "etrnd/common/strings.h"
#include "etrnd/smtp/command.h"

namespace etrnd::smtp {
namespace {

// The verb and its argument; the verbs here are not the main port's.
struct OdmrCommand {
  std::string verb;  // upper case
  std::string_view argument;
};

OdmrCommand Split(std::string_view line) {
  size_t space = line.find(' ');
  OdmrCommand command;
  command.verb = absl::AsciiStrToUpper(AsAbsl(line.substr(0, space)));
  if (space != std::string_view::npos) {
    command.argument = AsStd(absl::StripAsciiWhitespace(AsAbsl(line.substr(space + 1))));
  }
  return command;
}

}  // namespace

OdmrSession::OdmrSession(OdmrConfig config)
    : config_(std::move(config)), reader_(config_.max_line_bytes) {}

void OdmrSession::Start() { Reply("220 " + config_.hostname + " ESMTP etrnd ODMR"); }

const std::string& OdmrSession::user() const {
  ETRND_CHECK(user_.has_value());
  return *user_;
}

void OdmrSession::OnBytes(std::string_view bytes) {
  if (close_requested_ || reversing_) return;
  if (held_input_.size() + bytes.size() > kOdmrHeldInputMax) {
    Close("421 4.7.0 " + config_.hostname + " Error: too much pipelined input");
    return;
  }
  held_input_.append(bytes);
  ProcessInput();
}

void OdmrSession::ProcessInput() {
  size_t offset = 0;
  while (!waiting_ && !close_requested_ && !reversing_ && offset < held_input_.size()) {
    size_t consumed = 0;
    Line line;
    LineReader::Result result =
        reader_.Parse(std::string_view(held_input_).substr(offset), &consumed, &line);
    ETRND_CHECK(consumed <= held_input_.size() - offset);
    offset += consumed;
    if (result == LineReader::Result::kNeedMore) break;
    if (result == LineReader::Result::kTooLong) {
      // Inside an AUTH exchange the overlong line ends the exchange.
      Error(std::exchange(in_auth_exchange_, false)
                ? "500 5.5.6 Authentication Exchange line is too long"
                : "500 5.5.2 Error: line too long");
      continue;
    }
    // A line pointing into held_input_ stays valid until the erase below.
    HandleLine(line.text, line.bare_lf);
  }
  held_input_.erase(0, offset);
  // Nothing read after the turn's 250 or a close belongs to this session.
  if (close_requested_ || reversing_) held_input_.clear();
}

void OdmrSession::HandleLine(std::string_view line, bool bare_lf) {
  if (bare_lf || !IsPrintableCommandLine(line)) {
    if (in_auth_exchange_) in_auth_exchange_ = false;
    Error("500 5.5.2 Error: bad syntax");
    return;
  }
  if (in_auth_exchange_) {
    in_auth_exchange_ = false;
    Request(OdmrRequest::Kind::kAuthResponse, line);
    return;
  }
  HandleCommand(line);
}

void OdmrSession::HandleCommand(std::string_view line) {
  OdmrCommand command = Split(line);
  if (command.verb == "EHLO") {
    if (command.argument.empty()) {
      Error("501 5.5.4 Syntax: EHLO hostname");
      return;
    }
    greeted_ = true;
    std::string reply = "250-" + config_.hostname + "\r\n";
    if (!config_.auth_mechanisms.empty()) reply += "250-AUTH " + config_.auth_mechanisms + "\r\n";
    reply += "250-ATRN\r\n";
    if (config_.starttls) reply += "250-STARTTLS\r\n";
    reply += "250 ENHANCEDSTATUSCODES";
    Reply(reply);
  } else if (command.verb == "AUTH") {
    if (config_.auth_mechanisms.empty()) {
      Error("503 5.5.1 Error: authentication not enabled");
    } else if (!greeted_) {
      Error("503 5.5.1 Error: send EHLO first");
    } else if (user_.has_value()) {
      Error("503 5.5.1 Error: already authenticated");
    } else if (command.argument.empty()) {
      Error("501 5.5.4 Syntax: AUTH mechanism");
    } else {
      Request(OdmrRequest::Kind::kAuth, command.argument);
    }
  } else if (command.verb == "ATRN") {
    // Authentication first (SPEC 6): 530 before the argument is looked at.
    if (!user_.has_value()) {
      Error("530 5.7.0 Authentication required");
    } else {
      Request(OdmrRequest::Kind::kAtrn, command.argument);
    }
  } else if (command.verb == "STARTTLS" && config_.starttls) {
    if (!command.argument.empty()) {
      Error("501 5.5.4 Syntax: STARTTLS");
      return;
    }
    Reply("220 2.0.0 Ready to start TLS");
    Request(OdmrRequest::Kind::kStartTls, "");
  } else if (command.verb == "QUIT") {
    Close("221 2.0.0 Bye");
  } else {
    Error("502 5.5.1 Error: command not implemented");
  }
}

void OdmrSession::Request(OdmrRequest::Kind kind, std::string_view argument) {
  ETRND_CHECK(!waiting_ && !request_.has_value());
  request_ = OdmrRequest{kind, std::string(argument)};
  waiting_ = true;
}

std::optional<OdmrRequest> OdmrSession::TakeRequest() {
  std::optional<OdmrRequest> request = std::move(request_);
  request_.reset();
  return request;
}

void OdmrSession::AuthContinue(std::string_view reply_line) {
  if (close_requested_) return;  // timed out or shut down meanwhile
  ETRND_CHECK(waiting_ && !request_.has_value());
  waiting_ = false;
  in_auth_exchange_ = true;
  Reply(reply_line);
  ProcessInput();
}

void OdmrSession::AuthSucceeded(std::string user) {
  if (close_requested_) return;  // timed out or shut down meanwhile
  ETRND_CHECK(waiting_ && !request_.has_value() && !user.empty());
  waiting_ = false;
  user_ = std::move(user);
  Reply("235 2.7.0 Authentication successful");
  ProcessInput();
}

void OdmrSession::AuthFailed(std::string_view reply_line) {
  if (close_requested_) return;  // timed out or shut down meanwhile
  ETRND_CHECK(waiting_ && !request_.has_value());
  waiting_ = false;
  Error(reply_line);
  ProcessInput();
}

void OdmrSession::AtrnAnswered(std::string_view reply_line, bool reversing) {
  if (close_requested_) return;  // timed out or shut down meanwhile
  ETRND_CHECK(waiting_ && !request_.has_value());
  ETRND_CHECK(reversing == reply_line.starts_with("250"));
  waiting_ = false;
  Reply(reply_line);
  if (reversing) {
    reversing_ = true;
    held_input_.clear();
    return;
  }
  ProcessInput();
}

void OdmrSession::StartTlsDone(std::string auth_mechanisms) {
  if (close_requested_) return;  // timed out or shut down meanwhile
  ETRND_CHECK(waiting_ && !request_.has_value());
  waiting_ = false;
  // RFC 3207: forget everything, including bytes sent before the handshake.
  held_input_.clear();
  reader_.Reset();
  greeted_ = false;
  user_.reset();
  in_auth_exchange_ = false;
  config_.starttls = false;
  config_.auth_mechanisms = std::move(auth_mechanisms);
}

void OdmrSession::OnTimeout() {
  Close("421 4.4.2 " + config_.hostname + " Error: timeout exceeded");
}

void OdmrSession::OnShutdown() {
  Close("421 4.3.2 " + config_.hostname + " Service shutting down, closing transmission channel");
}

std::string OdmrSession::TakeOutput() { return std::exchange(output_, std::string()); }

void OdmrSession::Reply(std::string_view line) {
  output_.append(line);
  output_.append("\r\n");
}

void OdmrSession::Error(std::string_view line) {
  Reply(line);
  if (++errors_ >= config_.errors_max) {
    Close("421 4.7.0 " + config_.hostname + " Error: too many errors");
  }
}

void OdmrSession::Close(std::string_view line) {
  if (close_requested_ || reversing_) return;
  Reply(line);
  close_requested_ = true;
  waiting_ = false;
  request_.reset();
}

}  // namespace etrnd::smtp

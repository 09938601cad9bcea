#include "etrnd/blaster/client_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "etrnd/blaster/message_generator.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {
namespace {

constexpr int kServiceNotAvailable = 421;

bool IsSuccess(int code) { return code >= 200 && code < 300; }

}  // namespace

ClientSession::ClientSession(ClientSessionConfig config) : config_(std::move(config)) {}

bool ClientSession::awaiting_reply() const {
  return state_ != State::kIdle && state_ != State::kClosed;
}

void ClientSession::OnReceive(std::string_view bytes, ClientActions* actions) {
  if (state_ == State::kClosed) return;
  parser_.Feed(bytes);
  Reply reply;
  while (state_ != State::kClosed) {
    const ReplyParser::Result result = parser_.Next(&reply);
    if (result == ReplyParser::Result::kNeedMore) return;
    if (result == ReplyParser::Result::kError) {
      Fatal("protocol", actions);
      return;
    }
    OnReply(reply, actions);
  }
}

void ClientSession::OnConnectionLost(std::string_view reason, ClientActions* actions) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kQuit) {
    state_ = State::kClosed;
    return;
  }
  Fatal(std::string(reason), actions);
}

void ClientSession::OnReply(const Reply& reply, ClientActions* actions) {
  switch (state_) {
    case State::kGreeting:
      if (reply.code != 220) return Fatal(absl::StrCat(reply.code), actions);
      actions->sends.push_back(absl::StrCat("EHLO ", config_.helo_name, "\r\n"));
      state_ = State::kEhlo;
      return;
    case State::kEhlo:
      if (IsSuccess(reply.code)) {
        pipelining_ = config_.use_pipelining && reply.HasExtension("PIPELINING");
        return BecomeIdle(actions);
      }
      if (reply.code == kServiceNotAvailable) return Fatal("421", actions);
      actions->sends.push_back(absl::StrCat("HELO ", config_.helo_name, "\r\n"));
      state_ = State::kHelo;
      return;
    case State::kHelo:
      if (!IsSuccess(reply.code)) return Fatal(absl::StrCat(reply.code), actions);
      return BecomeIdle(actions);
    case State::kIdle:
      // Unsolicited: a 421 before an idle close, or a confused server.
      return Fatal(reply.code == kServiceNotAvailable ? "421" : "protocol", actions);
    case State::kMessage:
      if (reply.code == kServiceNotAvailable) return Fatal("421", actions);
      return OnMessageReply(reply, actions);
    case State::kRset:
      if (reply.code == kServiceNotAvailable) return Fatal("421", actions);
      return BecomeIdle(actions);
    case State::kEtrn: {
      TransactionResult result;
      result.kind = TransactionResult::Kind::kEtrn;
      result.ok = IsSuccess(reply.code);
      result.final_code = reply.code;
      if (!result.ok) result.error = absl::StrCat(reply.code);
      actions->results.push_back(std::move(result));
      if (reply.code == kServiceNotAvailable) {
        state_ = State::kClosed;
        actions->close = true;
        return;
      }
      return BecomeIdle(actions);
    }
    case State::kQuit:
      state_ = State::kClosed;
      actions->close = true;
      return;
    case State::kClosed:
      return;
  }
}

void ClientSession::StartMessage(std::string_view mail_from,
                                 const std::vector<std::string>& recipients,
                                 std::string_view content, ClientActions* actions) {
  if (state_ != State::kIdle) return;
  state_ = State::kMessage;
  mail_from_ = std::string(mail_from);
  recipients_ = recipients;
  wire_content_.clear();
  AppendDotStuffed(content, &wire_content_);
  step_ = 0;
  mail_code_ = 0;
  first_rejected_code_ = 0;
  accepted_recipients_ = 0;
  content_aborted_ = false;
  result_ = TransactionResult();
  if (!pipelining_) {
    actions->sends.push_back(absl::StrCat("MAIL FROM:<", mail_from_, ">\r\n"));
    return;
  }
  std::string commands = absl::StrCat("MAIL FROM:<", mail_from_, ">\r\n");
  for (const std::string& recipient : recipients_) {
    absl::StrAppend(&commands, "RCPT TO:<", recipient, ">\r\n");
  }
  commands.append("DATA\r\n");
  actions->sends.push_back(std::move(commands));
}

void ClientSession::OnMessageReply(const Reply& reply, ClientActions* actions) {
  const size_t recipient_count = recipients_.size();
  const size_t data_step = recipient_count + 1;
  result_.final_code = reply.code;
  const bool envelope_ok = IsSuccess(mail_code_) && accepted_recipients_ > 0;
  // The reply code that explains a failure: the first refusal in order.
  const auto deciding_error = [&](int code) {
    if (!IsSuccess(mail_code_)) return absl::StrCat(mail_code_);
    if (accepted_recipients_ == 0 && first_rejected_code_ != 0) {
      return absl::StrCat(first_rejected_code_);
    }
    return absl::StrCat(code);
  };

  if (step_ == 0) {
    mail_code_ = reply.code;
  } else if (step_ <= recipient_count) {
    if (IsSuccess(reply.code)) {
      ++accepted_recipients_;
    } else {
      result_.rejected_recipient_codes.push_back(reply.code);
      if (first_rejected_code_ == 0) first_rejected_code_ = reply.code;
    }
  } else if (step_ == data_step) {
    if (reply.code != 354) return FinishMessage(false, deciding_error(reply.code), actions);
    // A server that says 354 after refusing the envelope gets an empty
    // message, which still ends its DATA phase cleanly.
    content_aborted_ = !envelope_ok;
    actions->sends.push_back(content_aborted_ ? std::string(".\r\n") : std::move(wire_content_));
    ++step_;
    return;
  } else {
    if (content_aborted_) return FinishMessage(false, deciding_error(reply.code), actions);
    const bool ok = IsSuccess(reply.code);
    return FinishMessage(ok, ok ? std::string() : absl::StrCat(reply.code), actions);
  }
  ++step_;
  if (!pipelining_) SendNextUnpipelined(actions);
}

void ClientSession::SendNextUnpipelined(ClientActions* actions) {
  if (!IsSuccess(mail_code_)) return FinishMessage(false, absl::StrCat(mail_code_), actions);
  if (step_ <= recipients_.size()) {
    actions->sends.push_back(absl::StrCat("RCPT TO:<", recipients_[step_ - 1], ">\r\n"));
    return;
  }
  if (accepted_recipients_ == 0) {
    return FinishMessage(false, absl::StrCat(first_rejected_code_), actions);
  }
  actions->sends.push_back("DATA\r\n");
}

void ClientSession::FinishMessage(bool ok, std::string error, ClientActions* actions) {
  result_.kind = TransactionResult::Kind::kMessage;
  result_.ok = ok;
  result_.error = std::move(error);
  actions->results.push_back(std::move(result_));
  result_ = TransactionResult();
  const bool content_phase_done = step_ == recipients_.size() + 2;
  wire_content_.clear();
  if (ok || content_phase_done) return BecomeIdle(actions);
  // The server may still hold part of the envelope: start clean.
  actions->sends.push_back("RSET\r\n");
  state_ = State::kRset;
}

void ClientSession::StartEtrn(std::string_view argument, ClientActions* actions) {
  if (state_ != State::kIdle) return;
  actions->sends.push_back(absl::StrCat("ETRN ", AsAbsl(argument), "\r\n"));
  state_ = State::kEtrn;
}

void ClientSession::Quit(ClientActions* actions) {
  if (state_ != State::kIdle) return;
  actions->sends.push_back("QUIT\r\n");
  state_ = State::kQuit;
}

void ClientSession::Fatal(std::string error, ClientActions* actions) {
  if (state_ == State::kMessage) {
    result_.kind = TransactionResult::Kind::kMessage;
    result_.ok = false;
    result_.error = std::move(error);
    actions->results.push_back(std::move(result_));
    result_ = TransactionResult();
  } else if (state_ == State::kEtrn) {
    TransactionResult result;
    result.kind = TransactionResult::Kind::kEtrn;
    result.error = std::move(error);
    actions->results.push_back(std::move(result));
  } else {
    actions->session_error = std::move(error);
  }
  state_ = State::kClosed;
  actions->close = true;
}

void ClientSession::BecomeIdle(ClientActions* actions) {
  state_ = State::kIdle;
  actions->ready = true;
}

}  // namespace etrnd::blaster

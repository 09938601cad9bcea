#include "etrnd/blaster/sink_session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {
namespace {

// "FROM:<a@b> SIZE=10" -> "a@b"; lenient about spaces and missing brackets.
std::string_view PathOf(std::string_view argument) {
  const size_t open = argument.find('<');
  if (open != std::string_view::npos) {
    const size_t close = argument.find('>', open);
    if (close != std::string_view::npos) return argument.substr(open + 1, close - open - 1);
  }
  const size_t colon = argument.find(':');
  std::string_view rest = colon == std::string_view::npos ? argument : argument.substr(colon + 1);
  rest = AsStd(absl::StripAsciiWhitespace(AsAbsl(rest)));
  return rest.substr(0, rest.find(' '));
}

std::string RefusalReply(int code, std::string_view what) {
  const char klass = code >= 500 ? '5' : '4';
  return absl::StrCat(code, " ", std::string(1, klass), ".7.1 ", AsAbsl(what),
                      " refused by sink\r\n");
}

}  // namespace

SinkSession::SinkSession(const SinkSessionConfig& config, FailSchedule* rcpt_failures,
                         FailSchedule* data_failures)
    : config_(config),
      rcpt_failures_(rcpt_failures),
      data_failures_(data_failures),
      data_decoder_(config.max_message_bytes, kMaxDataLineBytes) {}

std::string SinkSession::Greeting() const {
  return absl::StrCat("220 ", config_.hostname, " ESMTP smtp-blaster sink\r\n");
}

bool SinkSession::OnReceive(std::string_view bytes, std::string* output,
                            std::vector<ReceivedMessage>* accepted) {
  bool open = true;
  while (open && !bytes.empty() && !wants_tls_start_) {
    const size_t consumed =
        in_data_ ? ConsumeData(bytes, output, accepted) : ConsumeCommand(bytes, output, &open);
    if (consumed == 0) break;
    bytes.remove_prefix(consumed);
  }
  return open;
}

size_t SinkSession::ConsumeCommand(std::string_view bytes, std::string* output, bool* open) {
  size_t consumed = 0;
  smtp::Line line;
  switch (line_reader_.Parse(bytes, &consumed, &line)) {
    case smtp::LineReader::Result::kLine:
      // Lenient about bare LF line ends: the sink measures, it does not police.
      *open = HandleCommand(line.text, output);
      break;
    case smtp::LineReader::Result::kTooLong:
      output->append("500 5.5.0 Line too long\r\n");
      break;
    case smtp::LineReader::Result::kNeedMore:
      break;
  }
  return consumed;
}

size_t SinkSession::ConsumeData(std::string_view bytes, std::string* output,
                                std::vector<ReceivedMessage>* accepted) {
  size_t consumed = 0;
  std::string* content = config_.keep_content ? &message_.content : &discarded_content_;
  const smtp::DataDecoder::Result result = data_decoder_.Consume(bytes, &consumed, content);
  discarded_content_.clear();
  if (result == smtp::DataDecoder::Result::kDone) FinishData(output, accepted);
  return consumed;
}

bool SinkSession::HandleCommand(std::string_view line, std::string* output) {
  const std::string_view verb_text = line.substr(0, line.find(' '));
  const std::string verb = absl::AsciiStrToUpper(AsAbsl(verb_text));
  const std::string_view argument =
      verb_text.size() < line.size() ? line.substr(verb_text.size() + 1) : std::string_view();
  if (verb == "EHLO") {
    ResetTransaction();
    absl::StrAppend(output, "250-", config_.hostname, "\r\n250-PIPELINING\r\n250-SIZE ",
                    config_.max_message_bytes, "\r\n250-8BITMIME\r\n");
    if (config_.starttls && !tls_active_) output->append("250-STARTTLS\r\n");
    if (!config_.auth_user.empty()) output->append("250-AUTH PLAIN\r\n");
    output->append("250 ENHANCEDSTATUSCODES\r\n");
  } else if (verb == "HELO") {
    ResetTransaction();
    absl::StrAppend(output, "250 ", config_.hostname, "\r\n");
  } else if (verb == "MAIL") {
    HandleMail(argument, output);
  } else if (verb == "RCPT") {
    HandleRcpt(argument, output);
  } else if (verb == "DATA") {
    HandleData(output);
  } else if (verb == "RSET") {
    ResetTransaction();
    output->append("250 2.0.0 Ok\r\n");
  } else if (verb == "NOOP") {
    output->append("250 2.0.0 Ok\r\n");
  } else if (verb == "VRFY") {
    output->append("252 2.0.0 Cannot VRFY user\r\n");
  } else if (verb == "ETRN") {
    absl::StrAppend(output, "251 2.0.0 OK, no messages waiting for node ", AsAbsl(argument),
                    "\r\n");
  } else if (verb == "STARTTLS") {
    HandleStartTls(output);
  } else if (verb == "AUTH") {
    HandleAuth(argument, output);
  } else if (verb == "QUIT") {
    output->append("221 2.0.0 Bye\r\n");
    return false;
  } else {
    output->append("502 5.5.2 Error: command not recognized\r\n");
  }
  return true;
}

void SinkSession::HandleStartTls(std::string* output) {
  if (!config_.starttls) {
    output->append("502 5.5.2 Error: command not recognized\r\n");
  } else if (tls_active_) {
    output->append("503 5.5.1 Error: TLS already active\r\n");
  } else {
    output->append("220 2.0.0 Ready to start TLS\r\n");
    wants_tls_start_ = true;
    line_reader_.Reset();
  }
}

void SinkSession::OnTlsStarted() {
  wants_tls_start_ = false;
  tls_active_ = true;
  authenticated_ = false;
  ResetTransaction();
}

void SinkSession::HandleAuth(std::string_view argument, std::string* output) {
  const std::string_view mechanism = argument.substr(0, argument.find(' '));
  std::string decoded;
  if (config_.auth_user.empty()) {
    output->append("502 5.5.2 Error: command not recognized\r\n");
  } else if (authenticated_) {
    output->append("503 5.5.1 Error: already authenticated\r\n");
  } else if (!absl::EqualsIgnoreCase(AsAbsl(mechanism), "PLAIN") ||
             mechanism.size() == argument.size()) {
    // The blaster and swaks send PLAIN with an initial response.
    output->append("504 5.5.4 Error: only AUTH PLAIN with an initial response\r\n");
  } else if (!absl::Base64Unescape(AsAbsl(argument.substr(mechanism.size() + 1)), &decoded) ||
             decoded != absl::StrCat(std::string(1, '\0'), config_.auth_user, std::string(1, '\0'),
                                     config_.auth_password)) {
    output->append("535 5.7.8 Authentication credentials invalid\r\n");
  } else {
    authenticated_ = true;
    output->append("235 2.7.0 Authentication successful\r\n");
  }
}

void SinkSession::HandleMail(std::string_view argument, std::string* output) {
  if (!config_.auth_user.empty() && !authenticated_) {
    output->append("530 5.7.0 Authentication required\r\n");
    return;
  }
  if (has_mail_) {
    output->append("503 5.5.1 Error: nested MAIL command\r\n");
    return;
  }
  has_mail_ = true;
  message_.mail_from = std::string(PathOf(argument));
  output->append("250 2.1.0 Ok\r\n");
}

void SinkSession::HandleRcpt(std::string_view argument, std::string* output) {
  if (!has_mail_) {
    output->append("503 5.5.1 Error: need MAIL command\r\n");
    return;
  }
  if (message_.recipients.size() >= kMaxRecipients) {
    output->append("452 4.5.3 Error: too many recipients\r\n");
    return;
  }
  if (config_.rcpt_fail_code != 0 && rcpt_failures_ != nullptr && rcpt_failures_->NextFails()) {
    output->append(RefusalReply(config_.rcpt_fail_code, "Recipient"));
    return;
  }
  message_.recipients.emplace_back(PathOf(argument));
  output->append("250 2.1.5 Ok\r\n");
}

void SinkSession::HandleData(std::string* output) {
  if (!has_mail_) {
    output->append("503 5.5.1 Error: need MAIL command\r\n");
    return;
  }
  if (message_.recipients.empty()) {
    output->append("554 5.5.1 Error: no valid recipients\r\n");
    return;
  }
  in_data_ = true;
  data_decoder_.Reset();
  message_.bytes = 0;
  message_.content.clear();
  output->append("354 End data with <CR><LF>.<CR><LF>\r\n");
}

void SinkSession::FinishData(std::string* output, std::vector<ReceivedMessage>* accepted) {
  in_data_ = false;
  message_.bytes = data_decoder_.body_bytes();
  // The same judgement and replies as etrnd's server session.
  if (data_decoder_.too_big()) {
    output->append("552 5.3.4 Error: message too large\r\n");
  } else if (data_decoder_.bare_lf() || data_decoder_.bare_cr()) {
    output->append("550 5.6.0 Error: bare <CR> or <LF> in message content\r\n");
  } else if (data_decoder_.nul()) {
    output->append("554 5.6.0 Error: message contains NUL characters\r\n");
  } else if (data_decoder_.line_too_long()) {
    absl::StrAppend(output, "552 5.6.0 Error: message has a line longer than ", kMaxDataLineBytes,
                    " octets\r\n");
  } else if (config_.data_fail_code != 0 && data_failures_ != nullptr &&
             data_failures_->NextFails()) {
    output->append(RefusalReply(config_.data_fail_code, "Message"));
  } else {
    output->append("250 2.0.0 Ok: queued\r\n");
    accepted->push_back(std::move(message_));
  }
  ResetTransaction();
}

void SinkSession::ResetTransaction() {
  has_mail_ = false;
  message_ = ReceivedMessage();
}

}  // namespace etrnd::blaster

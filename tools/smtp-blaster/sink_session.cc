#include "etrnd/blaster/sink_session.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {
namespace {

std::string_view StripCrlf(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

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
    : config_(config), rcpt_failures_(rcpt_failures), data_failures_(data_failures) {}

std::string SinkSession::Greeting() const {
  return absl::StrCat("220 ", config_.hostname, " ESMTP smtp-blaster sink\r\n");
}

bool SinkSession::OnReceive(std::string_view bytes, std::string* output,
                            std::vector<ReceivedMessage>* accepted) {
  buffer_.append(bytes);
  size_t position = 0;
  bool open = true;
  while (open && position < buffer_.size()) {
    if (in_data_) {
      if (!ConsumeData(&position)) break;
      FinishData(output, accepted);
      continue;
    }
    const size_t end = buffer_.find('\n', position);
    if (end == std::string::npos) {
      if (buffer_.size() - position > kMaxCommandLineBytes) {
        output->append("500 5.5.0 Line too long\r\n");
        skipping_long_line_ = true;
        position = buffer_.size();
      }
      break;
    }
    const std::string_view line(buffer_.data() + position, end + 1 - position);
    position = end + 1;
    if (skipping_long_line_) {
      skipping_long_line_ = false;  // the tail of a line already refused
      continue;
    }
    if (line.size() > kMaxCommandLineBytes) {
      output->append("500 5.5.0 Line too long\r\n");
      continue;
    }
    open = HandleCommand(StripCrlf(line), output);
  }
  buffer_.erase(0, position);
  return open;
}

bool SinkSession::HandleCommand(std::string_view line, std::string* output) {
  const std::string_view verb_text = line.substr(0, line.find(' '));
  const std::string verb = absl::AsciiStrToUpper(AsAbsl(verb_text));
  const std::string_view argument =
      verb_text.size() < line.size() ? line.substr(verb_text.size() + 1) : std::string_view();
  if (verb == "EHLO") {
    ResetTransaction();
    absl::StrAppend(output, "250-", config_.hostname, "\r\n250-PIPELINING\r\n250-SIZE ",
                    config_.max_message_bytes, "\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n");
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
  } else if (verb == "QUIT") {
    output->append("221 2.0.0 Bye\r\n");
    return false;
  } else {
    output->append("502 5.5.2 Error: command not recognized\r\n");
  }
  return true;
}

void SinkSession::HandleMail(std::string_view argument, std::string* output) {
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
  data_line_start_ = true;
  data_after_crlf_ = true;
  message_.bytes = 0;
  message_.content.clear();
  output->append("354 End data with <CR><LF>.<CR><LF>\r\n");
}

bool SinkSession::ConsumeData(size_t* position) {
  while (*position < buffer_.size()) {
    const size_t end = buffer_.find('\n', *position);
    if (end == std::string::npos) {
      const size_t pending = buffer_.size() - *position;
      if (pending <= kMaxPendingDataBytes) return false;  // wait for the line end
      std::string_view chunk(buffer_.data() + *position, pending);
      if (data_line_start_ && chunk.front() == '.') chunk.remove_prefix(1);
      AppendContent(chunk);
      data_line_start_ = false;
      data_after_crlf_ = false;
      *position = buffer_.size();
      return false;
    }
    std::string_view line(buffer_.data() + *position, end + 1 - *position);
    *position = end + 1;
    if (data_line_start_ && data_after_crlf_ && line == ".\r\n") return true;
    if (data_line_start_ && line.front() == '.') line.remove_prefix(1);
    AppendContent(line);
    data_after_crlf_ = line.size() >= 2 && line[line.size() - 2] == '\r';
    data_line_start_ = true;
  }
  return false;
}

void SinkSession::AppendContent(std::string_view bytes) {
  message_.bytes += bytes.size();
  // Past the limit the message will be refused: stop keeping it.
  if (config_.keep_content && message_.bytes <= config_.max_message_bytes) {
    message_.content.append(bytes);
  }
}

void SinkSession::FinishData(std::string* output, std::vector<ReceivedMessage>* accepted) {
  in_data_ = false;
  if (message_.bytes > config_.max_message_bytes) {
    output->append("552 5.3.4 Error: message too large\r\n");
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

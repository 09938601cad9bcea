#include "etrnd/smtp/reply_reader.h"

#include <cstring>

#include "absl/strings/match.h"
#include "etrnd/common/strings.h"

namespace etrnd::smtp {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Returns the reply code of a line "NNN[ -]text", or -1 when malformed.
int ParseCode(std::string_view line) {
  if (line.size() < 3 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])) return -1;
  if (line[0] < '2' || line[0] > '5') return -1;
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return -1;
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

}  // namespace

std::string SmtpReply::Text() const {
  std::string text;
  const std::string code_text = std::to_string(code);
  for (const std::string& line : lines) {
    if (!text.empty()) text += ' ';
    text += code_text;
    if (!line.empty()) {
      text += ' ';
      text += line;
    }
    if (text.size() >= kReplyTextBytesMax) {
      text.resize(kReplyTextBytesMax);
      break;
    }
  }
  if (text.empty()) text = code_text;
  return text;
}

bool SmtpReply::HasExtension(std::string_view keyword) const {
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (absl::EqualsIgnoreCase(AsAbsl(line.substr(0, line.find(' '))), AsAbsl(keyword))) {
      return true;
    }
  }
  return false;
}

ReplyReader::Result ReplyReader::Fail(const char* why) {
  error_ = why;
  return Result::kError;
}

ReplyReader::Result ReplyReader::Read(std::string_view* input, SmtpReply* reply) {
  if (*error_ != '\0') return Result::kError;
  while (!input->empty()) {
    const void* newline = std::memchr(input->data(), '\n', input->size());
    const size_t take =
        newline == nullptr ? input->size() : static_cast<const char*>(newline) - input->data() + 1;
    if (line_.size() + take > kReplyLineBytesMax) return Fail("reply line too long");
    line_.append(input->data(), take);
    input->remove_prefix(take);
    if (newline == nullptr) return Result::kNeedMore;
    const Result result = FinishLine(reply);
    if (result != Result::kNeedMore) return result;
  }
  return Result::kNeedMore;
}

ReplyReader::Result ReplyReader::FinishLine(SmtpReply* reply) {
  std::string_view line(line_);
  line.remove_suffix(1);  // '\n'
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const int code = ParseCode(line);
  if (code < 0) return Fail("reply line without a 2xx-5xx code");
  if (pending_.lines.size() >= kReplyLinesMax) return Fail("too many reply lines");
  if (!pending_.lines.empty() && code != pending_.code) {
    return Fail("code changed inside a multi-line reply");
  }
  const bool last = line.size() == 3 || line[3] == ' ';
  pending_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
  pending_.code = code;
  line_.clear();
  if (!last) return Result::kNeedMore;
  *reply = std::move(pending_);
  pending_ = SmtpReply();
  return Result::kReply;
}

}  // namespace etrnd::smtp

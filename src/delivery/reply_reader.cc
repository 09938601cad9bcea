#include "etrnd/delivery/reply_reader.h"

#include <cstring>

namespace etrnd::delivery {
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

ReplyReader::Result ReplyReader::Read(std::string_view* input, SmtpReply* reply) {
  if (failed_) return Result::kError;
  while (!input->empty()) {
    const void* newline = std::memchr(input->data(), '\n', input->size());
    const size_t take =
        newline == nullptr ? input->size() : static_cast<const char*>(newline) - input->data() + 1;
    if (line_.size() + take > kReplyLineBytesMax) {
      failed_ = true;
      return Result::kError;
    }
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
  if (code < 0 || pending_.lines.size() >= kReplyLinesMax) {
    failed_ = true;
    return Result::kError;
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

}  // namespace etrnd::delivery

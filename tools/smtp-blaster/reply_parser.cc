#include "etrnd/blaster/reply_parser.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "etrnd/common/strings.h"

namespace etrnd::blaster {

bool Reply::HasExtension(std::string_view keyword) const {
  // The first line of an EHLO reply is the greeting, not an extension.
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    const std::string_view word = line.substr(0, line.find(' '));
    if (absl::EqualsIgnoreCase(AsAbsl(word), AsAbsl(keyword))) return true;
  }
  return false;
}

void ReplyParser::Feed(std::string_view bytes) {
  // Compact once the consumed prefix dominates, so the buffer stays bounded
  // by what is actually pending.
  if (offset_ > 0 && offset_ >= buffer_.size() / 2) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

ReplyParser::Result ReplyParser::Fail(std::string why) {
  error_ = std::move(why);
  return Result::kError;
}

ReplyParser::Result ReplyParser::Next(Reply* reply) {
  if (!error_.empty()) return Result::kError;
  while (true) {
    const size_t end = buffer_.find('\n', offset_);
    if (end == std::string::npos) {
      if (buffer_.size() - offset_ > kMaxLineBytes) return Fail("reply line too long");
      return Result::kNeedMore;
    }
    std::string_view line(buffer_.data() + offset_, end - offset_);
    offset_ = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLineBytes) return Fail("reply line too long");
    if (line.size() < 3 || !absl::ascii_isdigit(line[0]) || !absl::ascii_isdigit(line[1]) ||
        !absl::ascii_isdigit(line[2])) {
      return Fail("reply line without a 3-digit code");
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const char separator = line.size() > 3 ? line[3] : ' ';
    if (separator != ' ' && separator != '-') return Fail("bad reply separator");
    if (!partial_.lines.empty() && partial_.code != code) {
      return Fail("code changed inside a multi-line reply");
    }
    if (partial_.lines.size() >= kMaxLines) return Fail("too many reply lines");
    partial_.code = code;
    partial_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    if (separator == ' ') {
      *reply = std::move(partial_);
      partial_ = Reply();
      return Result::kReply;
    }
  }
}

}  // namespace etrnd::blaster

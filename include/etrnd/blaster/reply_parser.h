// Incremental parser of SMTP replies (RFC 5321 4.2): "250-first\r\n" ...
// "250 last\r\n". Bytes arrive in arbitrary pieces; complete replies come
// out in order. Lenient where servers differ (bare LF line ends, a code with
// no text), strict where it matters (3-digit code, same code on every line).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::blaster {

struct Reply {
  int code = 0;
  // Text of each line after the code and its separator.
  std::vector<std::string> lines;

  bool positive() const { return code >= 200 && code < 400; }
  // True if an EHLO reply lists keyword (case-insensitive) as an extension.
  bool HasExtension(std::string_view keyword) const;
};

class ReplyParser {
 public:
  // Bounds against a misbehaving peer.
  static constexpr size_t kMaxLineBytes = 4096;
  static constexpr size_t kMaxLines = 128;

  enum class Result { kReply, kNeedMore, kError };

  // Appends received bytes; call Next() until it returns kNeedMore.
  void Feed(std::string_view bytes);
  // kReply fills *reply; kError means the stream is not SMTP (the session
  // should close); error() says why.
  Result Next(Reply* reply);
  const std::string& error() const { return error_; }

 private:
  Result Fail(std::string why);

  std::string buffer_;
  size_t offset_ = 0;  // bytes of buffer_ already consumed
  Reply partial_;      // lines of a multi-line reply seen so far
  std::string error_;
};

}  // namespace etrnd::blaster

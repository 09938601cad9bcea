// Incremental reader of SMTP replies (RFC 5321 4.2) as received by a client:
// bytes arrive split anywhere; a reply is complete at its last line
// ("250 text" after any number of "250-text" lines).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::delivery {

// One complete reply. `lines` hold the text after "NNN-" / "NNN " (without
// CRLF), in order; `code` is the code of the last line.
struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines;

  // All lines joined by a single space, each with its code, e.g.
  // "550 5.1.1 <a@b>: user unknown"; bounded by kReplyTextBytesMax.
  std::string Text() const;
  bool Positive() const { return code >= 200 && code < 300; }
  bool Transient() const { return code >= 400 && code < 500; }
  bool Permanent() const { return code >= 500 && code < 600; }
};

inline constexpr size_t kReplyLineBytesMax = 4096;  // RFC says 512; be lenient
inline constexpr size_t kReplyLinesMax = 128;       // EHLO lists are short
inline constexpr size_t kReplyTextBytesMax = 2048;  // what SmtpReply::Text keeps

class ReplyReader {
 public:
  enum class Result { kNeedMore, kReply, kError };

  // Consumes bytes from `*input` (advancing it) until one reply is complete
  // (kReply, stored in *reply), the input is exhausted (kNeedMore) or the
  // server broke the syntax or a bound (kError: the connection is unusable).
  // Lines may end in CRLF or a bare LF (be liberal in what we accept).
  Result Read(std::string_view* input, SmtpReply* reply);

 private:
  Result FinishLine(SmtpReply* reply);

  std::string line_;  // the partial line carried between calls
  SmtpReply pending_;
  bool failed_ = false;
};

}  // namespace etrnd::delivery

// Incremental reader of SMTP replies (RFC 5321 4.2) as received by a client:
// bytes arrive split anywhere; a reply is complete at its last line
// ("250 text" after any number of "250-text" lines). Lenient where servers
// differ (bare LF line ends, a code with no text), strict where it matters
// (a 3-digit code from 2xx to 5xx, the same code on every line, bounds).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::smtp {

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
  // True if this EHLO reply lists `keyword` (case-insensitive) as an
  // extension; the first line (the server's name) is not one.
  bool HasExtension(std::string_view keyword) const;
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

  // Why the last kError happened ("" before any error).
  const char* error() const { return error_; }
  // True while part of a reply has been read (a line or earlier lines of a
  // multi-line reply): bytes that came after the last complete reply.
  bool has_partial_reply() const { return !line_.empty() || !pending_.lines.empty(); }

 private:
  Result FinishLine(SmtpReply* reply);
  Result Fail(const char* why);

  std::string line_;  // the partial line carried between calls
  SmtpReply pending_;
  const char* error_ = "";
};

}  // namespace etrnd::smtp

// Decoder of the DATA phase (RFC 5321 section 4.1.1.4 and 4.5.2).
//
// Consumes the message content across any chunk split, removes
// dot-stuffing and detects the end of data. Only <CRLF>.<CRLF> ends the
// data: <LF>.<LF>, <CR>.<CR> and mixed forms never do, so a client cannot
// smuggle a second message past a server that reads lines differently.
// Problems (bare CR or LF, a NUL, an overlong text line, an oversized
// message) are flagged, never repaired, and the decoder keeps consuming until the
// real end so the session stays in sync with the client.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace etrnd::smtp {

class DataDecoder {
 public:
  enum class Result {
    kNeedMore,  // all input consumed, the end of data is still to come
    kDone,      // the terminating ".\r\n" was consumed
  };

  // max_text_line_bytes counts the octets of a line as received, CRLF and
  // any stuffing dot included. max_message_bytes bounds the unstuffed body.
  DataDecoder(size_t max_message_bytes, size_t max_text_line_bytes);

  // Appends the unstuffed body bytes of `in` to *body (once a problem is
  // flagged nothing more is appended: the message will be refused). The
  // body keeps the CRLF before the final "."; the ".\r\n" is not part of it.
  Result Consume(std::string_view in, size_t* consumed, std::string* body);

  // Starts a new message (the start of data is the start of a line).
  void Reset();

  bool bare_cr() const { return bare_cr_; }
  bool bare_lf() const { return bare_lf_; }
  bool line_too_long() const { return line_too_long_; }
  bool too_big() const { return too_big_; }
  // RFC 5322 section 2.3: a message never contains NUL.
  bool nul() const { return nul_; }
  bool refused() const { return bare_cr_ || bare_lf_ || nul_ || line_too_long_ || too_big_; }
  // Unstuffed body octets seen so far (also counted past a problem).
  size_t body_bytes() const { return body_bytes_; }

 private:
  enum class State {
    kLineStart,  // after CRLF (or at the start of data)
    kDot,        // "." at the start of a line
    kDotCr,      // ".\r" at the start of a line: the end if LF follows
    kText,       // inside a line
    kCr,         // a CR inside a line whose meaning depends on the next byte
  };

  // Each returns the number of bytes of `in` it consumed (maybe zero after
  // a state change).
  size_t ConsumeLineStart(std::string_view in);
  size_t ConsumeDot(std::string_view in);
  size_t ConsumeDotCr(std::string_view in, bool* done);
  size_t ConsumeCr(std::string_view in);
  size_t ConsumeText(std::string_view in);
  size_t PlainLinesAtStart(std::string_view in) const;

  void Emit(std::string_view bytes);
  void AddLineBytes(size_t count);
  void EndLine();

  const size_t max_message_bytes_;
  const size_t max_text_line_bytes_;
  State state_ = State::kLineStart;
  size_t line_bytes_ = 0;  // octets of the current line as received
  size_t body_bytes_ = 0;
  std::string* body_ = nullptr;  // output of the running Consume() call
  bool bare_cr_ = false;
  bool bare_lf_ = false;
  bool nul_ = false;
  bool line_too_long_ = false;
  bool too_big_ = false;
};

}  // namespace etrnd::smtp

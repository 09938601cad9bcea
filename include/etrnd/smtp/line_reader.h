// Zero-copy framing of SMTP command lines (RFC 5321 section 2.3.8).
//
// Parse() hands out lines that point INTO the caller's input whenever the
// whole line is inside it; only a line split across input chunks is
// assembled in an internal buffer, bounded by the line limit. An overlong
// line is discarded up to its line end without being buffered.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "etrnd/common/protocol_limits.h"

namespace etrnd::smtp {

struct Line {
  // The line without its terminator. Valid until the next Parse() call and
  // as long as the input it was parsed from.
  std::string_view text;
  // Terminated by a bare LF instead of CRLF (accepted for framing, reported
  // so the session can refuse it).
  bool bare_lf = false;
};

class LineReader {
 public:
  enum class Result {
    kLine,      // *out holds one complete line
    kNeedMore,  // all input consumed, no complete line yet
    kTooLong,   // one line over the limit ended here; its octets were dropped
  };

  // max_line_bytes counts the octets as received, line terminator included.
  explicit LineReader(size_t max_line_bytes = kCommandLineOctetsMax);

  // Consumes at most one line from `in`; *consumed tells how many bytes.
  Result Parse(std::string_view in, size_t* consumed, Line* out);

  // Forgets any partial line.
  void Reset();

  // True while a partial line is buffered or an overlong line is skipped.
  bool has_partial_line() const { return partial_bytes_ > 0; }
  size_t max_line_bytes() const { return max_line_bytes_; }

 private:
  size_t max_line_bytes_;
  // Octets of the current unfinished line received so far (also counts the
  // octets of an overlong line being discarded).
  size_t partial_bytes_ = 0;
  bool discarding_ = false;
  std::string buffer_;  // holds the partial line unless discarding_
};

}  // namespace etrnd::smtp

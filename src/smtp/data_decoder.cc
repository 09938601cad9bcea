#include "etrnd/smtp/data_decoder.h"

#include <cstring>

namespace etrnd::smtp {

namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kCr = "\r";

const char* FindByte(std::string_view in, char byte) {
  if (in.empty()) return nullptr;
  return static_cast<const char*>(std::memchr(in.data(), byte, in.size()));
}

}  // namespace

DataDecoder::DataDecoder(size_t max_message_bytes, size_t max_text_line_bytes)
    : max_message_bytes_(max_message_bytes), max_text_line_bytes_(max_text_line_bytes) {}

void DataDecoder::Reset() {
  state_ = State::kLineStart;
  line_bytes_ = 0;
  body_bytes_ = 0;
  bare_cr_ = false;
  bare_lf_ = false;
  nul_ = false;
  line_too_long_ = false;
  too_big_ = false;
}

DataDecoder::Result DataDecoder::Consume(std::string_view in, size_t* consumed, std::string* body) {
  body_ = body;
  size_t position = 0;
  bool done = false;
  while (position < in.size() && !done) {
    std::string_view rest = in.substr(position);
    switch (state_) {
      case State::kLineStart:
        position += ConsumeLineStart(rest);
        break;
      case State::kDot:
        position += ConsumeDot(rest);
        break;
      case State::kDotCr:
        position += ConsumeDotCr(rest, &done);
        break;
      case State::kCr:
        position += ConsumeCr(rest);
        break;
      case State::kText:
        position += ConsumeText(rest);
        break;
    }
  }
  body_ = nullptr;
  *consumed = position;
  if (!done) return Result::kNeedMore;
  state_ = State::kLineStart;
  return Result::kDone;
}

size_t DataDecoder::ConsumeLineStart(std::string_view in) {
  line_bytes_ = 0;
  if (in.front() == '.') {
    AddLineBytes(1);
    state_ = State::kDot;
    return 1;
  }
  state_ = State::kText;
  return 0;
}

size_t DataDecoder::ConsumeDot(std::string_view in) {
  if (in.front() == '\r') {
    AddLineBytes(1);
    state_ = State::kDotCr;
    return 1;
  }
  // A line starting with "." that is not the end: the dot was stuffing.
  state_ = State::kText;
  return 0;
}

size_t DataDecoder::ConsumeDotCr(std::string_view in, bool* done) {
  if (in.front() == '\n') {
    *done = true;
    return 1;
  }
  // ".\r" then something else: the dot was stuffing, the CR is bare.
  state_ = State::kCr;
  return 0;
}

size_t DataDecoder::ConsumeCr(std::string_view in) {
  if (in.front() == '\n') {
    AddLineBytes(1);
    Emit(kCrlf);
    EndLine();
    state_ = State::kLineStart;
    return 1;
  }
  bare_cr_ = true;
  Emit(kCr);
  state_ = State::kText;
  return 0;
}

// The hot path: copies whole runs of text up to the next line end at once.
// Line octets are counted before emitting so an overlong line is never
// appended to the body.
size_t DataDecoder::ConsumeText(std::string_view in) {
  const char* begin = in.data();
  const char* lf = FindByte(in, '\n');
  const size_t searched = lf != nullptr ? lf - begin : in.size();
  const char* cr = FindByte(in.substr(0, searched), '\r');
  if (cr != nullptr && !(lf != nullptr && cr + 1 == lf)) {
    // A CR not directly before the LF: bare, or split from its LF.
    const size_t text_bytes = cr - begin;
    AddLineBytes(text_bytes + 1);
    Emit(in.substr(0, text_bytes));
    state_ = State::kCr;
    return text_bytes + 1;
  }
  if (lf == nullptr) {
    AddLineBytes(in.size());
    Emit(in);
    return in.size();
  }
  const size_t line_bytes = lf - begin + 1;
  AddLineBytes(line_bytes);
  // Plain lines right behind a CRLF line go out with it, in one Emit.
  const size_t run_bytes =
      line_bytes + (cr == nullptr ? 0 : PlainLinesAtStart(in.substr(line_bytes)));
  Emit(in.substr(0, run_bytes));
  EndLine();
  if (cr == nullptr) {
    // A bare LF never starts a new line for the end-of-data search.
    bare_lf_ = true;
    state_ = State::kText;
  } else {
    state_ = State::kLineStart;
  }
  return run_bytes;
}

// Whole lines at the start of `in` (which is at a line start) that need no
// state of their own: not starting with a dot, ending in CRLF, no other CR,
// within the line length bound. The rest goes through the state machine.
size_t DataDecoder::PlainLinesAtStart(std::string_view in) const {
  size_t plain = 0;
  while (plain < in.size() && in[plain] != '.') {
    const std::string_view rest = in.substr(plain);
    const char* lf = FindByte(rest, '\n');
    if (lf == nullptr) break;
    const size_t length = lf - rest.data() + 1;
    if (length < 2 || lf[-1] != '\r' || length > max_text_line_bytes_) break;
    if (FindByte(rest.substr(0, length - 2), '\r') != nullptr) break;
    plain += length;
  }
  return plain;
}

// Every body byte passes here, so this is the one place a NUL is looked
// for. It is looked for in a refused message too, so that the flags never
// depend on how the input was split.
void DataDecoder::Emit(std::string_view bytes) {
  body_bytes_ += bytes.size();
  if (body_bytes_ > max_message_bytes_) too_big_ = true;
  if (!nul_ && FindByte(bytes, '\0') != nullptr) nul_ = true;
  if (!refused()) body_->append(bytes);
}

void DataDecoder::AddLineBytes(size_t count) {
  line_bytes_ += count;
  if (line_bytes_ > max_text_line_bytes_) line_too_long_ = true;
}

void DataDecoder::EndLine() { line_bytes_ = 0; }

}  // namespace etrnd::smtp

#include "etrnd/smtp/line_reader.h"

#include <cstring>

namespace etrnd::smtp {

LineReader::LineReader(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

void LineReader::Reset() {
  partial_bytes_ = 0;
  discarding_ = false;
  buffer_.clear();
}

LineReader::Result LineReader::Parse(std::string_view in, size_t* consumed, Line* out) {
  // Without a partial line the buffer only holds the line handed out by the
  // previous call, which is no longer promised to be valid. clear() keeps
  // the capacity, which is bounded by max_line_bytes_.
  if (partial_bytes_ == 0) buffer_.clear();
  if (in.empty()) {
    *consumed = 0;
    return Result::kNeedMore;
  }
  const void* lf = std::memchr(in.data(), '\n', in.size());
  if (lf == nullptr) {
    *consumed = in.size();
    partial_bytes_ += in.size();
    // Without its terminator the line already has partial_bytes_ octets and
    // needs at least one more, so reaching the limit here means too long.
    if (partial_bytes_ >= max_line_bytes_) {
      discarding_ = true;
      buffer_.clear();
    } else {
      buffer_.append(in);
    }
    return Result::kNeedMore;
  }
  const size_t line_end = static_cast<const char*>(lf) - in.data();  // index of LF
  *consumed = line_end + 1;
  const size_t line_bytes = partial_bytes_ + line_end + 1;
  const bool was_discarding = discarding_;
  const bool was_split = partial_bytes_ > 0;
  partial_bytes_ = 0;
  discarding_ = false;
  if (was_discarding || line_bytes > max_line_bytes_) {
    buffer_.clear();
    return Result::kTooLong;
  }
  std::string_view text = in.substr(0, line_end);
  if (was_split) {
    buffer_.append(text);
    text = buffer_;
  }
  const bool bare_lf = text.empty() || text.back() != '\r';
  if (!bare_lf) text.remove_suffix(1);
  out->text = text;
  out->bare_lf = bare_lf;
  return Result::kLine;
}

}  // namespace etrnd::smtp

#include "etrnd/smtp/output_chunk.h"

namespace etrnd::smtp {
namespace {

constexpr std::string_view kDot = ".";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kEndOfData = ".\r\n";

}  // namespace

std::string JoinChunks(const std::vector<OutputChunk>& chunks) {
  size_t total = 0;
  for (const OutputChunk& chunk : chunks) total += chunk.bytes().size();
  std::string joined;
  joined.reserve(total);
  for (const OutputChunk& chunk : chunks) joined += chunk.bytes();
  return joined;
}

void AppendDotStuffed(std::string_view body, std::vector<OutputChunk>* out) {
  size_t segment_start = 0;
  size_t line_start = 0;
  while (line_start < body.size()) {
    if (body[line_start] == '.') {
      // Send everything up to this line unchanged, then the extra dot; the
      // line itself (with its own dot) starts the next segment.
      if (line_start > segment_start) {
        out->push_back(
            OutputChunk::Borrowed(body.substr(segment_start, line_start - segment_start)));
      }
      out->push_back(OutputChunk::Borrowed(kDot));
      segment_start = line_start;
    }
    const size_t newline = body.find('\n', line_start);
    if (newline == std::string_view::npos) break;
    line_start = newline + 1;
  }
  if (segment_start < body.size()) {
    out->push_back(OutputChunk::Borrowed(body.substr(segment_start)));
  }
  if (!body.empty() && !body.ends_with(kCrlf)) out->push_back(OutputChunk::Borrowed(kCrlf));
  out->push_back(OutputChunk::Borrowed(kEndOfData));
}

}  // namespace etrnd::smtp

// libFuzzer harness: the command line reader. Input byte 0 picks the chunk
// size; the same input parsed in one piece and in chunks must give the
// same lines, and whole-chunk lines must point into the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "etrnd/smtp/line_reader.h"

namespace {

constexpr size_t kMaxLineBytes = 64;  // small, so limits are reached often

std::vector<std::string> ParseAll(std::string_view input, size_t chunk_bytes) {
  etrnd::smtp::LineReader reader(kMaxLineBytes);
  std::vector<std::string> events;
  for (size_t offset = 0; offset < input.size(); offset += chunk_bytes) {
    std::string_view chunk = input.substr(offset, chunk_bytes);
    const std::string_view whole_chunk = chunk;
    const bool starts_clean = !reader.has_partial_line();
    while (!chunk.empty()) {
      size_t consumed = 0;
      etrnd::smtp::Line line;
      auto result = reader.Parse(chunk, &consumed, &line);
      if (consumed == 0 || consumed > chunk.size()) abort();
      if (result == etrnd::smtp::LineReader::Result::kLine) {
        if (line.text.size() + 1 > kMaxLineBytes) abort();
        const bool inside =
            line.text.data() >= whole_chunk.data() &&
            line.text.data() + line.text.size() <= whole_chunk.data() + whole_chunk.size();
        // Zero-copy: a line that began in this chunk is a view into it.
        if ((chunk.data() != whole_chunk.data() || starts_clean) && !inside) abort();
        events.emplace_back(std::string(line.text) + (line.bare_lf ? "\n" : "\r\n"));
      } else if (result == etrnd::smtp::LineReader::Result::kTooLong) {
        events.emplace_back("<too long>");
      } else if (consumed != chunk.size()) {
        abort();
      }
      chunk.remove_prefix(consumed);
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk_bytes = 1 + data[0] % 32;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (ParseAll(input, input.size() + 1) != ParseAll(input, chunk_bytes)) abort();
  return 0;
}

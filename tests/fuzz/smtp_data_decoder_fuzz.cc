// libFuzzer harness: the DATA decoder. Input byte 0 picks the chunk size;
// decoding in one piece and in chunks must agree on the body, the flags and
// where the data ends, and the end is always right after "\r\n.\r\n".
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "etrnd/smtp/data_decoder.h"

namespace {

constexpr size_t kMaxMessageBytes = 4096;
constexpr size_t kMaxTextLineBytes = 80;

struct Outcome {
  bool done = false;
  size_t end_offset = 0;  // input consumed up to the end of data
  std::string body;
  int flags = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome Decode(std::string_view input, size_t chunk_bytes) {
  etrnd::smtp::DataDecoder decoder(kMaxMessageBytes, kMaxTextLineBytes);
  Outcome outcome;
  for (size_t offset = 0; offset < input.size() && !outcome.done; offset += chunk_bytes) {
    std::string_view chunk = input.substr(offset, chunk_bytes);
    size_t consumed = 0;
    auto result = decoder.Consume(chunk, &consumed, &outcome.body);
    if (consumed > chunk.size()) abort();
    if (result == etrnd::smtp::DataDecoder::Result::kDone) {
      outcome.done = true;
      outcome.end_offset = offset + consumed;
    } else if (consumed != chunk.size()) {
      abort();
    }
  }
  outcome.flags = decoder.bare_cr() | decoder.bare_lf() << 1 | decoder.line_too_long() << 2 |
                  decoder.too_big() << 3 | decoder.nul() << 4;
  if (outcome.body.size() > kMaxMessageBytes) abort();
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk_bytes = 1 + data[0] % 32;
  // The data phase starts right after the DATA command's CRLF.
  const std::string input = "\r\n" + std::string(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view body_input = std::string_view(input).substr(2);
  Outcome whole = Decode(body_input, body_input.size() + 1);
  Outcome chunked = Decode(body_input, chunk_bytes);
  // A flagged message is refused, so its partial body does not matter.
  if (whole.flags != 0) {
    whole.body.clear();
    chunked.body.clear();
  }
  if (!(whole == chunked)) abort();
  if (whole.done) {
    // Only <CRLF>.<CRLF> ends the data (the leading CRLF may be the DATA line's).
    const std::string_view upto = std::string_view(input).substr(0, whole.end_offset + 2);
    if (upto.size() < 5 || upto.substr(upto.size() - 5) != "\r\n.\r\n") abort();
    // Unstuffing only ever removes octets.
    if (whole.flags == 0 && whole.body.size() > whole.end_offset) abort();
  }
  return 0;
}

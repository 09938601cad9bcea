// libFuzzer harness: the PROXY protocol header parser. Input byte 0 picks
// the chunk size; the rest parsed in one piece and in chunks must give the
// same result, consumed bytes and addresses, within the header bound.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "etrnd/proxy/proxy_header.h"

namespace {

using etrnd::proxy::kHeaderBytesMax;
using etrnd::proxy::ProxyHeader;
using etrnd::proxy::ProxyHeaderParser;

struct Outcome {
  ProxyHeaderParser::Result result = ProxyHeaderParser::Result::kNeedMore;
  size_t consumed = 0;
  std::string summary;
};

Outcome ParseAll(std::string_view input, size_t chunk_bytes) {
  ProxyHeaderParser parser;
  Outcome outcome;
  for (size_t offset = 0; offset < input.size() || offset == 0; offset += chunk_bytes) {
    std::string_view chunk = input.substr(offset, chunk_bytes);
    size_t consumed = 0;
    ProxyHeader header;
    outcome.result = parser.Parse(chunk, &consumed, &header);
    if (consumed > chunk.size()) abort();
    if (parser.buffered_bytes() >= kHeaderBytesMax) abort();
    outcome.consumed += consumed;
    if (outcome.result == ProxyHeaderParser::Result::kNeedMore) {
      if (consumed != chunk.size()) abort();
      if (outcome.consumed >= kHeaderBytesMax) abort();
      if (chunk.empty()) break;
      continue;
    }
    if (outcome.result == ProxyHeaderParser::Result::kDone) {
      if (outcome.consumed == 0 || outcome.consumed > kHeaderBytesMax) abort();
      if (header.version != 1 && header.version != 2) abort();
      outcome.summary = std::to_string(header.version) + (header.has_addresses ? "+" : "-") +
                        header.source.ToString() + ">" + header.destination.ToString();
    } else if (parser.error().empty()) {
      abort();
    }
    break;
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk_bytes = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  Outcome whole = ParseAll(input, input.empty() ? 1 : input.size());
  Outcome chunked = ParseAll(input, chunk_bytes);
  if (whole.result != chunked.result) abort();
  if (whole.result == ProxyHeaderParser::Result::kDone &&
      (whole.consumed != chunked.consumed || whole.summary != chunked.summary)) {
    abort();
  }
  return 0;
}

// libFuzzer harness: the /metrics request parser. Input byte 0 picks the
// chunk size; the same input parsed whole and in chunks must give the same
// result and request, and the head never grows past its bound.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "etrnd/metrics/http_request.h"

namespace {

constexpr size_t kMaxBytes = 256;  // small, so the bound is reached often

std::string ParseAll(std::string_view input, size_t chunk_bytes) {
  etrnd::metrics::HttpRequestParser parser(kMaxBytes);
  etrnd::metrics::HttpRequest request;
  size_t taken = 0;
  auto result = etrnd::metrics::HttpParseResult::kNeedMore;
  for (size_t offset = 0; offset < input.size(); offset += chunk_bytes) {
    std::string_view chunk = input.substr(offset, chunk_bytes);
    size_t consumed = 0;
    result = parser.Parse(chunk, &consumed, &request);
    if (consumed > chunk.size()) abort();
    taken += consumed;
    if (result != etrnd::metrics::HttpParseResult::kNeedMore) break;
    if (consumed != chunk.size()) abort();
  }
  if (taken > kMaxBytes) abort();
  std::string out = std::to_string(static_cast<int>(result)) + "/" + std::to_string(taken);
  if (result == etrnd::metrics::HttpParseResult::kComplete) {
    out += " " + request.method + " " + request.target + " " + request.version + " " +
           std::to_string(static_cast<int>(etrnd::metrics::RouteMetricsRequest(request)));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk_bytes = 1 + data[0] % 32;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (ParseAll(input, input.size() + 1) != ParseAll(input, chunk_bytes)) abort();
  return 0;
}

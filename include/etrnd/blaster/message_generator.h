// Builds the test messages: realistic headers with a unique Message-ID, then
// a body of text lines (all under 1000 octets, some starting with '.' and
// some that are a lone '.', so the server's dot-unstuffing is exercised),
// padded so the content is exactly the requested size.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace etrnd::blaster {

struct MessageEnvelope {
  std::string mail_from;
  std::vector<std::string> recipients;
};

class MessageGenerator {
 public:
  // Longest body line we generate, CRLF excluded (RFC 5322 recommends 78).
  static constexpr size_t kMaxBodyLineBytes = 78;
  // Distinct body lines cycled through; enough that consecutive messages
  // differ, small enough to build once.
  static constexpr size_t kBodyPoolLines = 4096;

  // run_id and thread_index make Message-IDs unique across runs and threads.
  MessageGenerator(uint64_t run_id, int thread_index, uint64_t seed);

  // The message content (headers + body, CRLF line ends, unstuffed) of
  // exactly size_bytes octets when size_bytes is at least the header size
  // plus 2; else the headers plus an empty body line.
  std::string Generate(const MessageEnvelope& envelope, size_t size_bytes);

  uint64_t generated() const { return sequence_; }

 private:
  std::string Headers(const MessageEnvelope& envelope);
  void AppendBody(size_t body_bytes, std::string* out);

  uint64_t run_id_;
  int thread_index_;
  uint64_t sequence_ = 0;
  std::mt19937_64 rng_;
  std::vector<std::string> body_pool_;
};

}  // namespace etrnd::blaster

// --sink_dir: keeps every accepted message for delivery tests to inspect.
// For each recipient domain D of a message (lowercased), writes
//   <dir>/D/<n>.env  envelope: "MAIL FROM:<s>" then "RCPT TO:<r>" lines for
//                    the recipients in D, LF-terminated
//   <dir>/D/<n>.eml  the content, byte-exact as received after unstuffing
// n is a process-wide counter, zero-padded to 8 digits. The .eml appears
// last, atomically (written under a temporary name and renamed), before the
// sink answers 250: a test that sees the 250 finds the file.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "etrnd/blaster/sink_session.h"

namespace etrnd::blaster {

class SinkStore {
 public:
  // Creates dir if missing.
  static absl::Status Prepare(const std::string& dir);
  explicit SinkStore(std::string dir) : dir_(std::move(dir)) {}

  // Thread-safe. Blocking file writes: fine for a test sink.
  absl::Status Store(const ReceivedMessage& message);

  // A domain as a safe single path component ("" -> "_none").
  static std::string DirectoryNameFor(std::string_view domain);

 private:
  std::string dir_;
  std::atomic<uint64_t> next_number_{1};
};

}  // namespace etrnd::blaster

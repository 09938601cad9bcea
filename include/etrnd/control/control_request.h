// The etrnctl control protocol (src/control owns it; the server's handlers
// live in src/server/control_service.cc). Pure: no I/O.
//
// One connection carries one request and one response, then the server
// closes it:
//   request   "<json|text> <command> [argument ...]\n"   (kRequestBytesMax)
//   response  "OK\n" <body>   or   "ERR <reason>\n" <body>
// The body is already rendered for the operator (a table, or JSON with
// --json), so the client only prints it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace etrnd::control {

// A request line longer than this (newline included) is refused.
inline constexpr size_t kRequestBytesMax = 1024;

enum class Command {
  kQueue,
  kList,
  kShow,
  kFlush,
  kHold,
  kRelease,
  kDelete,
  kBounce,
  kReload,
  kStats
};

struct Request {
  Command command = Command::kQueue;
  bool json = false;
  // Domain (lowercase), queue id, or flush argument as typed (@D, #Q, D).
  std::string argument;
  bool by_domain = false;  // delete --domain D
  bool all_nodes = false;  // flush --all-nodes ARG
  uint64_t queue_id = 0;   // show, delete ID, bounce: the parsed id
};

// The line without its newline. InvalidArgument with a reason for the
// operator (unknown command, missing or bad argument).
absl::StatusOr<Request> ParseRequest(std::string_view line);

// The client's side: the line to send (newline included), or
// InvalidArgument when a word is empty or holds whitespace.
absl::StatusOr<std::string> FormatRequest(bool json, const std::vector<std::string>& words);

// Queue ids are 16 hex digits (Core::NewQueueId: 44 bits of microseconds,
// 8 of core, 12 of counter), so 64 bits hold one: the compact key.
std::optional<uint64_t> ParseQueueId(std::string_view text);
std::string FormatQueueId(uint64_t id);

}  // namespace etrnd::control

// What etrnctl prints: each command's result as a human-readable table or as
// JSON (--json), rendered on the server so the client stays a pipe. Pure.
// JSON output is exact: keys in a fixed order, domains sorted, integers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "etrnd/control/qshape.h"

namespace etrnd::control {

struct DomainSummary {
  std::string domain;
  uint64_t messages = 0;
  uint64_t recipients = 0;
  uint64_t bytes = 0;  // spool record sizes of the messages
  int64_t oldest_age_s = 0;
  // "held" (etrnctl hold), "etrn" (a hold domain: waits for ETRN),
  // "running" (a flush), "due", "retry" (next_attempt_s from now),
  // "unserved" (no table entry).
  std::string state;
  std::optional<int64_t> next_attempt_s;
  QshapeCounts ages{};
};

struct MessageSummary {
  std::string id;
  std::string sender;
  uint64_t bytes = 0;
  int64_t age_s = 0;
  uint64_t recipients = 0;  // still queued in this domain
  int attempts = 0;         // the domain's failed attempts in a row
  std::string last_error;   // the domain's last delivery error
};

struct RecipientState {
  std::string address;
  bool queued = false;
};

struct MessageDetail {
  std::string id;
  std::string sender;
  int64_t arrival_unix_s = 0;
  int64_t age_s = 0;
  uint64_t bytes = 0;
  std::vector<RecipientState> recipients;
  std::string headers;
};

struct CoreStats {
  int core = 0;
  uint64_t sessions = 0;
  uint64_t queued_messages = 0;
  uint64_t queued_recipients = 0;
  uint64_t queued_domains = 0;
  uint64_t flushes_running = 0;
  uint64_t held_domains = 0;
  uint64_t messages_accepted = 0;
  uint64_t deliveries_delivered = 0;
  uint64_t bounces = 0;
};

// A JSON string literal (quotes included), control characters escaped.
std::string JsonString(std::string_view text);
// "3d4h", "17m", "42s": an operator-friendly age.
std::string ShortDuration(int64_t seconds);

std::string RenderQueue(std::vector<DomainSummary> domains, bool json);
std::string RenderList(std::string_view domain, const std::vector<MessageSummary>& messages,
                       bool json);
std::string RenderShow(const MessageDetail& message, bool json);
std::string RenderStats(const std::vector<CoreStats>& cores, bool json);
// Results of actions (flush, hold, delete, ...): ordered integer / string
// fields and one line of text for humans.
struct Field {
  std::string key;
  std::variant<int64_t, std::string, bool> value;
};
std::string RenderAction(const std::vector<Field>& fields, std::string_view text, bool json);
// The body that goes with an ERR status line.
std::string RenderError(std::string_view reason, bool json);

}  // namespace etrnd::control

// The shape of one log line, text or JSON, as a pure function of its parts
// (log.cc adds the clock, the bounds and the write). Text keeps the classic
// "<utc time> <LEVEL> [t<thread>] message" line; structured fields appear
// only in JSON, so they cost nothing else in text mode. Both escape what
// clients control (HELO names, addresses, replies): a line is always one
// line, and a JSON line always parses (RFC 8259).
#pragma once

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace etrnd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// One structured field of an event: a borrowed string or an integer. Built
// in braces at the call site ({"id", queue_id}, {"nrcpt", n}); it points
// into the caller's strings, valid for the duration of the log call.
struct LogField {
  LogField(std::string_view key_in, std::string_view text_in) : key(key_in), text(text_in) {}
  LogField(std::string_view key_in, const std::string& text_in) : key(key_in), text(text_in) {}
  LogField(std::string_view key_in, const char* text_in) : key(key_in), text(text_in) {}
  template <std::integral Integer>
  requires(!std::same_as<Integer, bool> && !std::same_as<Integer, char>)
      LogField(std::string_view key_in, Integer number_in)
      : key(key_in), number(static_cast<int64_t>(number_in)), is_number(true) {}

  std::string_view key;
  std::string_view text;
  int64_t number = 0;
  bool is_number = false;
};

struct LogLineParts {
  absl::Time time{};
  LogLevel level = LogLevel::kInfo;
  int thread_index = -1;     // -1 = main thread
  std::string_view event{};  // "" = a plain message (JSON: no "event")
  std::span<const LogField> fields{};
  std::string_view message{};  // the formatted text ("msg" in JSON)
};

// Parses "text" or "json"; false if unknown.
bool ParseLogFormat(std::string_view text, LogFormat* format);
// The whole line, "\n" included.
std::string FormatLogLine(LogFormat format, const LogLineParts& parts);

// RFC 8259 string, quotes included: '"', '\' and control bytes escaped,
// valid UTF-8 kept (U+2028/U+2029 escaped), every byte of an invalid
// sequence written as \u00XX (its value, readable by an operator).
void AppendJsonString(std::string* out, std::string_view text);
// Text mode: control bytes (and DEL) as \xNN so a client cannot start a new
// line or move the cursor; everything else unchanged.
void AppendLogText(std::string* out, std::string_view text);

}  // namespace etrnd

// Minimal line logger: one write(2) per line so lines from reactor threads
// never interleave. Format (--log_format): text "<utc time> <level>
// [t<thread>] message", or one JSON object per line (log_line.h).
//
// Structured events (ETRND_LOG_INFO_EVENT(event, {{"id", id}, ...}, format,
// ...)) carry fields for JSON; in text mode the fields are never read, so the
// format string itself should carry what an operator greps for (Postfix
// style "<ID>: to=<...>, relay=..., status=sent (...)").
//
// Bounded: every line passes a global LogRateBound (SetLogLinesPerSecondMax,
// --log_rate_max), and events a client can repeat at will (refused commands,
// refused connections) go through LogRepeated: one line per (event, client)
// per second per thread, the rest summarised ("N more in the last 1.0s").
// Both bounds apply the same in either format.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "etrnd/common/log_line.h"

namespace etrnd {

using LogFields = std::initializer_list<LogField>;

// Parses "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
void SetLogLevel(LogLevel level);
bool ShouldLog(LogLevel level);
// Set once at startup, before threads start.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
void WriteLogLine(LogLevel level, std::string_view message);
void WriteLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                   std::string_view message);
// The two halves of WriteLogEvent, so a line the rate bound drops is never
// formatted: AdmitLogLine() counts it against --log_rate_max (writing a due
// "N log lines suppressed" first) and says whether to write it.
bool AdmitLogLine();
void WriteAdmittedLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                           std::string_view message);
// Index of the reactor thread shown in log lines (-1 = main thread).
void SetLogThreadIndex(int index);
// This thread's index (-1: not a reactor).
int LogThreadIndex();
// Global bound on lines written per second (0 = unbounded); over it lines
// are dropped and "N log lines suppressed" is written once a second.
void SetLogLinesPerSecondMax(uint32_t lines_per_second_max);
// Writes the calling thread's due summaries ("<event> from <client>: N more
// in the last Xs") of repeats that stopped. Each reactor calls it once a second.
void FlushRepeatedLogEvents();

// Repeats of an admitted (event, client) held back since its last line.
struct LogRepeats {
  uint64_t suppressed = 0;
  absl::Duration over;
};
// The calling thread's repeat summary for (event, client): false = counted,
// not to be written; true = write it (with *repeats, if any, noted).
bool AdmitRepeatedLogEvent(LogLevel level, std::string_view event, std::string_view client,
                           LogRepeats* repeats);
// Writes an admitted repeated event: " (N more in the last Xs)" appended to
// the message, and in JSON a "more" field.
void WriteRepeatedLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                           std::string message, const LogRepeats& repeats);

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (ShouldLog(level) && AdmitLogLine()) {
    WriteAdmittedLogEvent(level, "", {}, absl::StrFormat(format, args...));
  }
}

// Like Log(), with an event name and structured fields (JSON only).
template <typename... Args>
void LogEvent(LogLevel level, std::string_view event, LogFields fields,
              const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (!ShouldLog(level) || !AdmitLogLine()) return;
  WriteAdmittedLogEvent(level, event, std::span<const LogField>(fields.begin(), fields.size()),
                        absl::StrFormat(format, args...));
}

// Like Log(), summarised per (repeat_key, client): see the file comment. In
// JSON the line has a "client" field.
template <typename... Args>
void LogRepeated(LogLevel level, std::string_view repeat_key, std::string_view client,
                 const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (!ShouldLog(level)) return;
  LogRepeats repeats;
  if (!AdmitRepeatedLogEvent(level, repeat_key, client, &repeats)) return;
  const LogField fields[] = {{"client", client}};
  WriteRepeatedLogEvent(level, "", fields, absl::StrFormat(format, args...), repeats);
}

// LogRepeated with an event name and structured fields.
template <typename... Args>
void LogRepeatedEvent(LogLevel level, std::string_view repeat_key, std::string_view client,
                      std::string_view event, LogFields fields,
                      const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (!ShouldLog(level)) return;
  LogRepeats repeats;
  if (!AdmitRepeatedLogEvent(level, repeat_key, client, &repeats)) return;
  WriteRepeatedLogEvent(level, event, std::span<const LogField>(fields.begin(), fields.size()),
                        absl::StrFormat(format, args...), repeats);
}

}  // namespace etrnd

#define ETRND_LOG_DEBUG(...) ::etrnd::Log(::etrnd::LogLevel::kDebug, __VA_ARGS__)
#define ETRND_LOG_INFO(...) ::etrnd::Log(::etrnd::LogLevel::kInfo, __VA_ARGS__)
#define ETRND_LOG_WARNING(...) ::etrnd::Log(::etrnd::LogLevel::kWarning, __VA_ARGS__)
#define ETRND_LOG_ERROR(...) ::etrnd::Log(::etrnd::LogLevel::kError, __VA_ARGS__)
// ETRND_LOG_INFO_EVENT("delivered", {{"id", id}, {"to", rcpt}}, "%s: ...", ...)
#define ETRND_LOG_INFO_EVENT(...) ::etrnd::LogEvent(::etrnd::LogLevel::kInfo, __VA_ARGS__)
#define ETRND_LOG_WARNING_EVENT(...) ::etrnd::LogEvent(::etrnd::LogLevel::kWarning, __VA_ARGS__)
#define ETRND_LOG_ERROR_EVENT(...) ::etrnd::LogEvent(::etrnd::LogLevel::kError, __VA_ARGS__)
#define ETRND_LOG_INFO_REPEATED(event, client, ...) \
  ::etrnd::LogRepeated(::etrnd::LogLevel::kInfo, event, client, __VA_ARGS__)
#define ETRND_LOG_WARNING_REPEATED(event, client, ...) \
  ::etrnd::LogRepeated(::etrnd::LogLevel::kWarning, event, client, __VA_ARGS__)
// (repeat_key, client, event, {fields}, format, ...)
#define ETRND_LOG_INFO_REPEATED_EVENT(...) \
  ::etrnd::LogRepeatedEvent(::etrnd::LogLevel::kInfo, __VA_ARGS__)
#define ETRND_LOG_WARNING_REPEATED_EVENT(...) \
  ::etrnd::LogRepeatedEvent(::etrnd::LogLevel::kWarning, __VA_ARGS__)

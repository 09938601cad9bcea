// Minimal line logger: one write(2) per line so lines from reactor threads
// never interleave. Format: "<utc time> <level> [t<thread>] message".
//
// Bounded: every line passes a global LogRateBound (SetLogLinesPerSecondMax,
// --log_rate_max), and events a client can repeat at will (refused commands,
// refused connections) go through LogRepeated: one line per (event, client)
// per second per thread, the rest summarised ("N more in the last 1.0s").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etrnd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Parses "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* level);
void SetLogLevel(LogLevel level);
bool ShouldLog(LogLevel level);
void WriteLogLine(LogLevel level, std::string_view message);
// Index of the reactor thread shown in log lines (-1 = main thread).
void SetLogThreadIndex(int index);
// Global bound on lines written per second (0 = unbounded); over it lines
// are dropped and "N log lines suppressed" is written once a second.
void SetLogLinesPerSecondMax(uint32_t lines_per_second_max);
// The calling thread's repeat summary for (event, client): false = counted,
// not to be written; true = write it, with *suffix (" (N more in the last
// Xs)") appended when repeats were held back.
// Writes the calling thread's due summaries ("<event> from <client>: N more
// in the last Xs") of repeats that stopped. Each reactor calls it once a second.
void FlushRepeatedLogEvents();
bool AdmitRepeatedLogEvent(LogLevel level, std::string_view event, std::string_view client,
                           std::string* suffix);

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (ShouldLog(level)) WriteLogLine(level, absl::StrFormat(format, args...));
}

// Like Log(), summarised per (event, client): see the file comment.
template <typename... Args>
void LogRepeated(LogLevel level, std::string_view event, std::string_view client,
                 const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (!ShouldLog(level)) return;
  std::string suffix;
  if (!AdmitRepeatedLogEvent(level, event, client, &suffix)) return;
  WriteLogLine(level, absl::StrCat(absl::StrFormat(format, args...), suffix));
}

}  // namespace etrnd

#define ETRND_LOG_DEBUG(...) ::etrnd::Log(::etrnd::LogLevel::kDebug, __VA_ARGS__)
#define ETRND_LOG_INFO(...) ::etrnd::Log(::etrnd::LogLevel::kInfo, __VA_ARGS__)
#define ETRND_LOG_WARNING(...) ::etrnd::Log(::etrnd::LogLevel::kWarning, __VA_ARGS__)
#define ETRND_LOG_ERROR(...) ::etrnd::Log(::etrnd::LogLevel::kError, __VA_ARGS__)
#define ETRND_LOG_INFO_REPEATED(event, client, ...) \
  ::etrnd::LogRepeated(::etrnd::LogLevel::kInfo, event, client, __VA_ARGS__)
#define ETRND_LOG_WARNING_REPEATED(event, client, ...) \
  ::etrnd::LogRepeated(::etrnd::LogLevel::kWarning, event, client, __VA_ARGS__)

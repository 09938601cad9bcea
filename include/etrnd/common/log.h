// Minimal line logger: one write(2) per line so lines from reactor threads
// never interleave. Format: "<utc time> <level> [t<thread>] message".
#pragma once

#include <string_view>

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

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (ShouldLog(level)) WriteLogLine(level, absl::StrFormat(format, args...));
}

}  // namespace etrnd

#define ETRND_LOG_DEBUG(...) ::etrnd::Log(::etrnd::LogLevel::kDebug, __VA_ARGS__)
#define ETRND_LOG_INFO(...) ::etrnd::Log(::etrnd::LogLevel::kInfo, __VA_ARGS__)
#define ETRND_LOG_WARNING(...) ::etrnd::Log(::etrnd::LogLevel::kWarning, __VA_ARGS__)
#define ETRND_LOG_ERROR(...) ::etrnd::Log(::etrnd::LogLevel::kError, __VA_ARGS__)
